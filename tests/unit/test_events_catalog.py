"""The schema catalog: policies, caching, evolution, races, and the value checker."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from weir import Event
from weir.errors import (
    ConfigError,
    ErrorCode,
    EventInvalidError,
    EventSchemaUnknownError,
    RegistryUnavailableError,
    SchemaIncompatibleError,
    SchemaInvalidError,
)
from weir.events.catalog import SchemaCatalog
from weir.events.envelope import data_record_of, envelope_schema
from weir.events.registry import HttpSchemaRegistry
from weir.events.validate import FieldError, compile_checker
from weir.testing import InMemoryRegistry


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def data_fields(schema: dict[str, Any]) -> list[str]:
    return [f["name"] for f in data_record_of(schema, subject="s")["fields"]]


def test_strict_policy_refuses_unknown_event_names() -> None:
    catalog = SchemaCatalog(InMemoryRegistry(), policy="strict")
    with pytest.raises(EventSchemaUnknownError) as caught:
        run(catalog.for_data("app/unknown", {"a": 1}))
    error = caught.value
    assert error.code == ErrorCode.EVENT_SCHEMA_UNKNOWN
    assert error.http_status == 422
    assert "app/unknown" in error.message
    assert "strict" in error.message


def test_strict_policy_accepts_data_that_fits_a_registered_schema() -> None:
    registry = InMemoryRegistry()
    run(SchemaCatalog(registry).for_data("app/known", {"a": 1}))  # registered by infer
    strict = SchemaCatalog(registry, policy="strict")
    _entry, datum = run(strict.for_data("app/known", {"a": 2}))
    assert datum == {"a": 2}
    with pytest.raises(EventInvalidError) as caught:
        run(strict.for_data("app/known", {"a": 1, "b": 2}))
    assert caught.value.path == "data.b"  # strict never evolves


def test_unknown_policy_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="strict"):
        SchemaCatalog(InMemoryRegistry(), policy="lenient")


def test_infer_registers_once_then_serves_from_cache() -> None:
    registry = InMemoryRegistry()
    catalog = SchemaCatalog(registry)
    entry, datum = run(catalog.for_data("app/user.created", {"id": 1}))
    assert registry.subjects() == ["app/user.created"]
    assert entry.subject == "app/user.created"
    assert entry.inferred
    header = b"\x00" + entry.schema_id.to_bytes(4, "big")
    assert entry.prefix == header + bytes([len("app/user.created") * 2]) + b"app/user.created"
    calls = registry.calls
    for i in range(100):
        again, datum = run(catalog.for_data("app/user.created", {"id": i}))
        assert again is entry
        assert datum == {"id": i}
    assert registry.calls == calls


def test_infer_evolves_and_registers_new_versions() -> None:
    registry = InMemoryRegistry()
    catalog = SchemaCatalog(registry)
    first, _ = run(catalog.for_data("e/v", {"id": 1}))
    second, datum = run(catalog.for_data("e/v", {"id": 2, "email": "x"}))
    assert second.schema_id != first.schema_id
    assert datum == {"id": 2, "email": ("string", "x")}
    assert [data_fields(v) for v in registry.versions("e/v")] == [["id"], ["id", "email"]]
    third, datum = run(catalog.for_data("e/v", {"id": 3}))  # fits v2
    assert third is second
    assert datum == {"id": 3, "email": None}


def test_incompatible_payloads_are_refused_and_register_nothing() -> None:
    registry = InMemoryRegistry()
    catalog = SchemaCatalog(registry)
    run(catalog.for_data("e/x", {"items": [{"price": 1}]}))
    with pytest.raises(SchemaIncompatibleError) as caught:
        run(catalog.for_data("e/x", {"items": [{"price": 1}, {"price": {"amount": 1}}]}))
    assert caught.value.detail["path"] == "data.items[1].price"
    assert "was an integer, is now an object" in caught.value.message
    assert len(registry.versions("e/x")) == 1


def test_typed_schemas_are_never_evolved_by_untyped_data() -> None:
    class Typed(Event, name="t/typed"):
        a: int

    registry = InMemoryRegistry()
    catalog = SchemaCatalog(registry)
    run(catalog.for_model(Typed))
    with pytest.raises(EventInvalidError) as caught:
        run(catalog.for_data("t/typed", {"a": 1, "b": 2}))
    assert caught.value.path == "data.b"
    assert "not a field" in caught.value.message
    entry, datum = run(catalog.for_data("t/typed", {"a": 5}))
    assert datum == {"a": 5}
    assert not entry.inferred
    assert len(registry.versions("t/typed")) == 1


def test_registering_a_model_twice_keeps_one_version() -> None:
    class Once(Event, name="t/once"):
        a: int

    registry = InMemoryRegistry()
    first = run(SchemaCatalog(registry).for_model(Once))
    second = run(SchemaCatalog(registry).for_model(Once))
    assert first.schema_id == second.schema_id
    assert len(registry.versions("t/once")) == 1


def test_incompatible_model_changes_are_refused_by_the_registry() -> None:
    registry = InMemoryRegistry()

    class V1(Event, name="t/changing"):
        a: int

    run(SchemaCatalog(registry).for_model(V1))

    class V2(Event, name="t/changing"):
        a: int
        b: str  # new and required: old data has no b

    with pytest.raises(SchemaIncompatibleError, match=r"data\.b"):
        run(SchemaCatalog(registry).for_model(V2))


def test_a_stale_cache_follows_another_writers_evolution() -> None:
    registry = InMemoryRegistry()
    mine, theirs = SchemaCatalog(registry), SchemaCatalog(registry)
    run(mine.for_data("e/shared", {"a": 1}))
    run(theirs.for_data("e/shared", {"a": 1, "b": "x"}))  # v2, unknown to `mine`
    entry, datum = run(mine.for_data("e/shared", {"a": 2, "b": "y"}))
    assert data_fields(entry.schema) == ["a", "b"]
    assert datum == {"a": 2, "b": ("string", "y")}
    assert len(registry.versions("e/shared")) == 2  # reused v2, did not register a v3


def test_concurrent_first_sends_with_different_fields_all_succeed() -> None:
    registry = InMemoryRegistry()

    async def main() -> None:
        catalogs = [SchemaCatalog(registry) for _ in range(5)]
        await asyncio.gather(*(c.for_data("e/race", {f"f{i}": i}) for i, c in enumerate(catalogs)))

    run(main())
    latest = registry.versions("e/race")[-1]
    assert sorted(data_fields(latest)) == ["f0", "f1", "f2", "f3", "f4"]


def test_subject_prefix() -> None:
    registry = InMemoryRegistry()
    catalog = SchemaCatalog(registry, subject_prefix="prod.")
    entry, _ = run(catalog.for_data("shop/cart.added", {"a": 1}))
    assert entry.subject == "prod.shop/cart.added"
    assert registry.subjects() == ["prod.shop/cart.added"]


def test_a_subject_holding_a_non_event_schema_is_refused() -> None:
    registry = InMemoryRegistry()
    run(registry.register("e/odd", json.dumps({"type": "string"})))
    with pytest.raises(SchemaInvalidError, match="not a Weir event"):
        run(SchemaCatalog(registry).for_data("e/odd", {"a": 1}))


def test_writer_schemas_are_fetched_by_id_once() -> None:
    registry = InMemoryRegistry()
    entry, _ = run(SchemaCatalog(registry).for_data("e/id", {"a": 1}))
    fresh = SchemaCatalog(registry)
    calls = registry.calls
    first = run(fresh.writer(entry.schema_id))
    assert run(fresh.writer(entry.schema_id)) is first
    assert registry.calls == calls + 1


def test_an_unreachable_registry_is_retryable_registry_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    catalog = SchemaCatalog(HttpSchemaRegistry(f"http://127.0.0.1:{port}", timeout=2))
    with pytest.raises(RegistryUnavailableError) as caught:
        run(catalog.for_data("e/down", {"a": 1}))
    assert caught.value.retryable
    assert caught.value.http_status == 503


# -- the value checker ------------------------------------------------------------------


def check(schema: Any, value: Any) -> tuple[Any, list[FieldError]]:
    errors: list[FieldError] = []
    datum = compile_checker(schema)(value, "data", errors)
    return datum, errors


RECORD = {
    "type": "record",
    "name": "Data",
    "namespace": "n",
    "fields": [
        {"name": "id", "type": "long"},
        {
            "name": "items",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Item",
                    "fields": [{"name": "price", "type": "double"}],
                },
            },
        },
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "qty", "type": "int", "default": 1},
    ],
}


def test_checker_names_every_offending_path() -> None:
    _, errors = check(
        RECORD, {"items": [{"price": 1}, {"price": 2.5}, {"price": "x"}], "note": 3, "zz": 1}
    )
    assert [(e.path, e.message) for e in errors] == [
        ("data.id", "is required"),
        ("data.items[2].price", "expected a number, got a string"),
        ("data.note", "expected a string, got an integer"),
        ("data.zz", "is not a field of this event"),
    ]


def test_checker_converts_and_fills_optional_fields() -> None:
    datum, errors = check(RECORD, {"id": 1, "items": [{"price": 3}]})
    assert errors == []
    assert datum == {"id": 1, "items": [{"price": 3.0}], "note": None}


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"type": "long", "logicalType": "timestamp-millis"}, 5, 5),
        (
            {"type": "long", "logicalType": "timestamp-micros"},
            "2024-01-02T03:04:05Z",
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        ),
        ({"type": "int", "logicalType": "date"}, "2024-01-02", date(2024, 1, 2)),
        (
            {"type": "string", "logicalType": "uuid"},
            "12345678-1234-5678-1234-567812345678",
            "12345678-1234-5678-1234-567812345678",
        ),
        ({"type": "bytes"}, "AAH/", b"\x00\x01\xff"),
        (
            {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2},
            "1234.5",
            Decimal("1234.5"),
        ),
        ({"type": "enum", "name": "E", "symbols": ["a", "b"]}, "b", "b"),
        ({"type": "map", "values": "long"}, {"k": 1}, {"k": 1}),
        ({"type": "long"}, 3.0, 3),
    ],
)
def test_checker_reads_the_json_forms(schema: Any, value: Any, expected: Any) -> None:
    datum, errors = check(schema, value)
    assert errors == []
    assert datum == expected


@pytest.mark.parametrize(
    ("schema", "value", "message"),
    [
        ({"type": "int"}, 2**31, "out of range"),
        ({"type": "long"}, True, "expected an integer"),
        ({"type": "int", "logicalType": "date"}, datetime(2024, 1, 1), "expected an ISO date"),
        ({"type": "string", "logicalType": "uuid"}, "nope", "UUID"),
        ({"type": "bytes"}, "not base64!", "base64"),
        (
            {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2},
            "123.4",
            "more than 2 digits before the point",
        ),
        (
            {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2},
            "1.234",
            "more than 2 decimal places",
        ),
        ({"type": "enum", "name": "E", "symbols": ["a"]}, "c", "not one of: a"),
        (["null", "long", "string"], 1.5, "expected null or long or string"),
        ({"type": "long", "logicalType": "timestamp-millis"}, "yesterday", "ISO 8601"),
    ],
)
def test_checker_refuses_bad_values(schema: Any, value: Any, message: str) -> None:
    _, errors = check(schema, value)
    assert len(errors) == 1
    assert errors[0].path == "data"
    assert message in errors[0].message


def test_checker_uses_union_tuple_notation_with_full_names() -> None:
    schema = envelope_schema(
        "e/u",
        {
            "type": "record",
            "name": "Data",
            "namespace": "weir.events.e_u",
            "fields": [
                {
                    "name": "pay",
                    "type": [
                        {
                            "type": "record",
                            "name": "Card",
                            "fields": [{"name": "n", "type": "string"}],
                        },
                        {
                            "type": "record",
                            "name": "Cash",
                            "fields": [{"name": "c", "type": "string"}],
                        },
                    ],
                }
            ],
        },
        inferred=False,
    )
    registry = InMemoryRegistry()
    catalog = SchemaCatalog(registry)
    run(catalog.register("e/u", schema))
    _entry, datum = run(catalog.for_data("e/u", {"pay": {"c": "EUR"}}))
    assert datum == {"pay": ("weir.events.e_u.Cash", {"c": "EUR"})}
