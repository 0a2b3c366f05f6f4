"""`weir schemas list|show|check` against the real registry (its own process).

``show --as python`` is proven by round trip: the generated source, imported,
gives back exactly the Avro schema that was registered.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from pydantic import BaseModel, Field

from services.registry.testing import RegistryProcess
from tests.support.kafka import Topics, unique
from weir import Event
from weir.cli import main
from weir.cli_schemas import event_classes, load_target
from weir.events.catalog import SchemaCatalog
from weir.events.registry import HttpSchemaRegistry

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry(kafka_bootstrap: str) -> Iterator[RegistryProcess]:
    schemas = Topics(kafka_bootstrap)
    topic = unique("_schemas-cli")
    schemas.created.append(topic)
    with RegistryProcess(kafka_bootstrap, topic) as process:
        yield process
    schemas.delete_all()


class Address(BaseModel):
    street: str
    zip: str | None = None


class Color(StrEnum):
    RED = "RED"
    BLUE = "BLUE"


class Line(BaseModel):
    sku: str
    qty: int = 1
    price: Decimal = Field(max_digits=10, decimal_places=2)


def _order_class(name: str) -> type[Event]:
    class OrderPlaced(Event, name=name):
        order_id: str
        placed_at: datetime
        day: date
        lines: list[Line]
        ship_to: Address | None = None
        bill_to: Address | None = None
        tags: dict[str, str] = Field(default_factory=dict)
        color: Color = Color.RED
        ref: UUID | None = None
        note: str = Field(default="", description="free text")
        either: int | str = 0

    return OrderPlaced


def _register(registry: RegistryProcess, name: str, schema: dict[str, Any]) -> int:
    answer = httpx.post(
        f"{registry.url}/subjects/{name.replace('/', '%2F')}/versions",
        json={"schema": json.dumps(schema)},
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["id"])


def _infer(registry: RegistryProcess, name: str, data: dict[str, Any]) -> None:
    async def run() -> None:
        remote = HttpSchemaRegistry(registry.url)
        try:
            await SchemaCatalog(remote, policy="infer").for_data(name, data)
        finally:
            await remote.aclose()

    asyncio.run(run())


def _latest(registry: RegistryProcess, name: str) -> Any:
    answer = httpx.get(f"{registry.url}/subjects/{name.replace('/', '%2F')}/versions/latest")
    return json.loads(answer.json()["schema"])


def _full_names(schema: Any, namespace: str | None = None) -> Any:
    """``schema`` with every named type spelled by its full name and no ``namespace`` keys,
    so the registry's canonical form and the SDK's own compare equal."""
    if isinstance(schema, list):
        return [_full_names(s, namespace) for s in schema]
    if isinstance(schema, str):
        primitive = schema in {
            "null",
            "boolean",
            "int",
            "long",
            "float",
            "double",
            "bytes",
            "string",
        }
        return schema if primitive or "." in schema or not namespace else f"{namespace}.{schema}"
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k != "namespace"}
    if "name" in schema and schema.get("type") in ("record", "enum", "fixed"):
        name = str(schema["name"])
        space = schema.get("namespace", namespace)
        full = name if "." in name or not space else f"{space}.{name}"
        out["name"] = full
        namespace = full.rsplit(".", 1)[0] if "." in full else None
    if "fields" in schema:
        out["fields"] = [{**f, "type": _full_names(f["type"], namespace)} for f in schema["fields"]]
    for key in ("items", "values"):
        if key in schema:
            out[key] = _full_names(schema[key], namespace)
    return out


def _cli(
    registry: RegistryProcess, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    code = main(["schemas", "--registry", registry.url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def _generated(tmp_path: Path, source: str) -> type[Event]:
    path = tmp_path / f"generated_{uuid.uuid4().hex[:8]}.py"
    path.write_text(source)
    [cls] = event_classes(load_target(str(path)))
    return cls


def test_list_shows_every_subject_with_version_and_id(
    registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    typed = _order_class(f"shop/order.placed-{uuid.uuid4().hex[:6]}")
    schema_id = _register(registry, typed.name, typed.avro_schema())
    inferred = f"app/signup-{uuid.uuid4().hex[:6]}"
    _infer(registry, inferred, {"email": "a@b.c"})
    _infer(registry, inferred, {"email": "a@b.c", "plan": "pro"})  # evolves: version 2

    code, out, _ = _cli(registry, capsys, "list")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert out.splitlines()[0].split() == ["EVENT", "SUBJECT", "VERSION", "ID", "ORIGIN"]
    assert rows[typed.name] == [typed.name, typed.name, "1", str(schema_id), "typed"]
    assert rows[inferred][2] == "2"
    assert rows[inferred][4] == "inferred"


def test_show_as_avro_prints_the_registered_schema(
    registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    typed = _order_class(f"shop/order.shown-{uuid.uuid4().hex[:6]}")
    _register(registry, typed.name, typed.avro_schema())
    code, out, _ = _cli(registry, capsys, "show", typed.name, "--as", "avro")
    assert code == 0
    assert json.loads(out) == _latest(registry, typed.name)
    assert _full_names(json.loads(out)) == _full_names(typed.avro_schema())


def test_show_as_python_round_trips_a_typed_schema(
    registry: RegistryProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    typed = _order_class(f"shop/order.python-{uuid.uuid4().hex[:6]}")
    _register(registry, typed.name, typed.avro_schema())
    code, source, _ = _cli(registry, capsys, "show", typed.name, "--as", "python")
    assert code == 0
    for expected in (
        "class Lines(BaseModel):",  # nested record (named by its path, as the SDK does)
        "ship_to: ShipTo | None = None",  # optional record, defined once, reused
        "bill_to: ShipTo | None = None",
        "lines: list[Lines]",  # list
        "tags: dict[str, str] = {}",  # map
        "class Color(StrEnum):",  # enum
        "color: Color = Color.RED",
        "price: Annotated[Decimal, Field(max_digits=10, decimal_places=2)]",
        'note: str = Field("", description="free text")',
    ):
        assert expected in source, f"{expected!r} missing from:\n{source}"
    generated = _generated(tmp_path, source)
    assert generated.name == typed.name
    assert generated.avro_schema() == typed.avro_schema()
    assert _full_names(generated.avro_schema()) == _full_names(_latest(registry, typed.name))


def test_show_as_python_types_an_inferred_schema(
    registry: RegistryProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = f"app/order.inferred-{uuid.uuid4().hex[:6]}"
    data = {
        "id": 7,
        "customer": {"name": "Ada", "vip": True},
        "items": [{"sku": "a", "price": 2.5}],
        "coupon": None,
        "attributes": {"first-name": "Ada"},  # not Avro names: a map
    }
    _infer(registry, name, data)
    _infer(registry, name, {**data, "coupon": "SAVE10"})
    code, source, _ = _cli(registry, capsys, "show", name, "--as", "python")
    assert code == 0
    assert "customer: Customer" in source
    assert "items: list[Items]" in source
    assert "coupon: str | None = None" in source
    assert "attributes: dict[str, str]" in source
    generated = _generated(tmp_path, source)
    data_of = lambda s: next(f["type"] for f in s["fields"] if f["name"] == "data")  # noqa: E731
    assert _full_names(data_of(generated.avro_schema()), "weir.events") == _full_names(
        data_of(_latest(registry, name)), "weir.events"
    )
    # The typed class may follow the inferred schema: the registry agrees.
    answer = httpx.post(
        f"{registry.url}/compatibility/subjects/{name.replace('/', '%2F')}/versions/latest",
        json={"schema": json.dumps(generated.avro_schema())},
    )
    assert answer.json()["is_compatible"] is True


def test_show_of_an_unknown_event_fails_clearly(
    registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(registry, capsys, "show", "app/never-registered")
    assert code == 2
    assert "registry_not_found" in err


def _events_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / f"events_{uuid.uuid4().hex[:8]}.py"
    header = "from __future__ import annotations\n\nfrom weir import Event\n\n"
    path.write_text(header + textwrap.dedent(body))
    return path


def test_check_passes_compatible_and_new_events(
    registry: RegistryProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name, new = f"shop/cart.added-{uuid.uuid4().hex[:6]}", f"shop/cart.new-{uuid.uuid4().hex[:6]}"
    registered = _events_file(
        tmp_path,
        f"""
        class CartAdded(Event, name="{name}"):
            cart_id: str
        """,
    )
    [cls] = event_classes(load_target(str(registered)))
    _register(registry, name, cls.avro_schema())
    evolved = _events_file(
        tmp_path,
        f"""
        class CartAdded(Event, name="{name}"):
            cart_id: str
            coupon: str | None = None  # a new optional field: compatible

        class CartNew(Event, name="{new}"):
            cart_id: str
        """,
    )
    code, out, _ = _cli(registry, capsys, "check", str(evolved))
    assert code == 0, out
    assert f"compatible    {name}" in out
    assert f"new           {new}" in out


def test_check_fails_an_incompatible_event_naming_it_and_why(
    registry: RegistryProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = f"shop/cart.removed-{uuid.uuid4().hex[:6]}"
    first = _events_file(tmp_path, f'class CartRemoved(Event, name="{name}"):\n    cart_id: str\n')
    [cls] = event_classes(load_target(str(first)))
    _register(registry, name, cls.avro_schema())
    changed = _events_file(
        tmp_path,
        f"""
        class CartRemoved(Event, name="{name}"):
            cart_id: int  # was str
            reason: str  # required, no default
        """,
    )
    code, out, err = _cli(registry, capsys, "check", str(changed))
    assert code == 1
    assert f"INCOMPATIBLE  {name}  ({changed.resolve()}:CartRemoved)" in out
    assert "TYPE_MISMATCH" in out  # cart_id: str -> int
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in out  # reason: required, no default
    assert "incompatible" in err


def test_the_weir_command_exits_non_zero_on_an_incompatible_model(
    registry: RegistryProcess, tmp_path: Path
) -> None:
    name = f"shop/cart.emptied-{uuid.uuid4().hex[:6]}"
    first = _events_file(tmp_path, f'class CartEmptied(Event, name="{name}"):\n    cart_id: str\n')
    [cls] = event_classes(load_target(str(first)))
    _register(registry, name, cls.avro_schema())
    changed = _events_file(
        tmp_path, f'class CartEmptied(Event, name="{name}"):\n    cart_id: float\n'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "weir.cli",
            "schemas",
            "--registry",
            registry.url,
            "check",
            str(changed),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert name in done.stdout
