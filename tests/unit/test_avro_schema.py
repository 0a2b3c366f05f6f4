"""Pydantic model -> Avro: every supported type, defaults, naming, and round trips."""

from __future__ import annotations

import enum
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import avro.schema
import pytest
from pydantic import AnyUrl, BaseModel, Field

from weir.errors import ErrorCode, EventInvalidError, EventModelError
from weir.events import codec
from weir.events.avro_schema import model_record
from weir.events.model import Event


def data_fields(cls: type[Event]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in cls.avro().record["fields"]}


def round_trip(event: Event) -> dict[str, Any]:
    """Encode the event's whole record with its schema and read it back with fastavro."""
    cls = type(event)
    parsed = codec.parse(cls.avro_schema())
    datum = {
        "name": event.name,
        "id": event.id,
        "ts": event.ts,
        "user": None,
        "v": None,
        "data": cls.avro().to_datum(event.data),
    }
    value = codec.encode(codec.header(7), parsed, datum)
    assert codec.schema_id_of(value) == 7
    record: dict[str, Any] = codec.decode(value, parsed)
    return record


def test_every_schema_is_valid_avro_for_apache_avro_too() -> None:
    class Everything(Event, name="t/everything"):
        s: str
        n: int
        f: float
        b: bool
        raw: bytes
        when: datetime
        day: date
        at: time
        uid: uuid.UUID
        price: Decimal
        url: AnyUrl
        tags: list[str]
        counts: dict[str, int]
        maybe: int | None = None

    text = json.dumps(Everything.avro_schema())
    parsed = avro.schema.parse(text)  # the registry's own parser
    assert parsed.fullname == "weir.events.t_everything"


def test_primitives_map_to_avro_primitives() -> None:
    class Prims(Event, name="t/prims"):
        s: str
        n: int
        f: float
        b: bool
        raw: bytes

    fields = data_fields(Prims)
    assert {k: v["type"] for k, v in fields.items()} == {
        "s": "string",
        "n": "long",
        "f": "double",
        "b": "boolean",
        "raw": "bytes",
    }
    assert all("default" not in f for f in fields.values())
    ev = Prims(data={"s": "x", "n": 2**62, "f": 1.5, "b": True, "raw": b"\x00\xff"})
    assert round_trip(ev)["data"] == {"s": "x", "n": 2**62, "f": 1.5, "b": True, "raw": b"\x00\xff"}


def test_optional_fields_are_unions_with_null_and_defaults_follow_the_first_branch() -> None:
    class Opt(Event, name="t/opt"):
        a: int | None = None
        b: str | None = "x"
        c: int | None  # required, but may be null

    fields = data_fields(Opt)
    assert fields["a"] == {"name": "a", "type": ["null", "long"], "default": None}
    assert fields["b"] == {"name": "b", "type": ["string", "null"], "default": "x"}
    assert fields["c"] == {"name": "c", "type": ["null", "long"]}
    ev = Opt(data={"c": None})
    assert round_trip(ev)["data"] == {"a": None, "b": "x", "c": None}
    assert round_trip(Opt(data={"a": 5, "b": None, "c": 3}))["data"] == {"a": 5, "b": None, "c": 3}


def test_defaults_and_docs_are_carried() -> None:
    class Defaults(Event, name="t/defaults"):
        qty: int = 1
        ratio: float = 0.5
        label: str = Field(default="none", description="what it is")
        tags: list[str] = Field(default_factory=lambda: ["a"])
        counts: dict[str, int] = Field(default_factory=dict)
        flag: bool = False

    fields = data_fields(Defaults)
    assert fields["qty"]["default"] == 1
    assert fields["ratio"]["default"] == 0.5
    assert fields["label"] == {
        "name": "label",
        "type": "string",
        "default": "none",
        "doc": "what it is",
    }
    assert fields["tags"]["default"] == ["a"]
    assert fields["counts"]["default"] == {}
    assert fields["flag"]["default"] is False


class Address(BaseModel):
    city: str
    zip: str | None = None


class Person(BaseModel):
    name: str
    home: Address
    work: Address | None = None


def test_nested_models_become_records_named_by_path_and_are_defined_once() -> None:
    class Signed(Event, name="t/signed"):
        person: Person
        backup: Address

    record = Signed.avro().record
    person = record["fields"][0]["type"]
    assert person["type"] == "record"
    assert person["name"] == "Data_person"
    home = person["fields"][1]["type"]
    assert home["name"] == "Data_person_home"
    assert person["fields"][2]["type"] == ["null", "Data_person_home"]  # reused by name
    assert record["fields"][1]["type"] == "Data_person_home"
    ev = Signed(
        data={
            "person": {"name": "p", "home": {"city": "a"}, "work": {"city": "b", "zip": "1"}},
            "backup": {"city": "c"},
        }
    )
    assert round_trip(ev)["data"] == {
        "person": {
            "name": "p",
            "home": {"city": "a", "zip": None},
            "work": {"city": "b", "zip": "1"},
        },
        "backup": {"city": "c", "zip": None},
    }


class Node(BaseModel):
    value: int
    children: list[Node] = []


def test_recursive_models_refer_to_themselves() -> None:
    class Tree(Event, name="t/tree"):
        root: Node

    node = Tree.avro().record["fields"][0]["type"]
    assert node["fields"][1]["type"] == {"type": "array", "items": "Data_root"}
    ev = Tree(data={"root": {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]}})
    decoded = round_trip(ev)["data"]["root"]
    assert decoded["children"][0]["children"][0] == {"value": 3, "children": []}


def test_lists_tuples_sets_are_arrays_and_dicts_are_maps() -> None:
    class Coll(Event, name="t/coll"):
        a: list[int]
        t: tuple[str, ...]
        s: set[int]
        m: dict[str, list[float]]
        nested: list[list[Address]]

    fields = data_fields(Coll)
    assert fields["a"]["type"] == {"type": "array", "items": "long"}
    assert fields["t"]["type"] == {"type": "array", "items": "string"}
    assert fields["s"]["type"] == {"type": "array", "items": "long"}
    assert fields["m"]["type"] == {"type": "map", "values": {"type": "array", "items": "double"}}
    inner = fields["nested"]["type"]["items"]["items"]
    assert inner["name"] == "Data_nested"
    ev = Coll(
        data={"a": [1], "t": ("x", "y"), "s": {3}, "m": {"k": [1.5]}, "nested": [[{"city": "c"}]]}
    )
    assert round_trip(ev)["data"] == {
        "a": [1],
        "t": ["x", "y"],
        "s": [3],
        "m": {"k": [1.5]},
        "nested": [[{"city": "c", "zip": None}]],
    }


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    S = 1
    M = 2


class Mood(enum.Enum):
    HAPPY = "very-happy"  # not a valid Avro symbol
    SAD = "sad"


def test_enums_become_avro_enums_or_their_value_type() -> None:
    class Enums(Event, name="t/enums"):
        color: Color = Color.BLUE
        size: Size
        mood: Mood
        other: Color | None = None

    fields = data_fields(Enums)
    assert fields["color"] == {
        "name": "color",
        "type": {"type": "enum", "name": "Data_color", "symbols": ["red", "blue"]},
        "default": "blue",
    }
    assert fields["size"]["type"] == "long"
    assert fields["mood"]["type"] == "string"
    assert fields["other"]["type"] == ["null", "Data_color"]
    ev = Enums(data={"size": 2, "mood": "very-happy", "other": "red"})
    assert round_trip(ev)["data"] == {
        "color": "blue",
        "size": 2,
        "mood": "very-happy",
        "other": "red",
    }


def test_literals_take_their_values_type() -> None:
    class Lits(Event, name="t/lits"):
        kind: Literal["card", "cash"]
        level: Literal[1, 2, 3] = 1
        maybe: Literal["x"] | None = None

    fields = data_fields(Lits)
    assert fields["kind"]["type"] == "string"
    assert fields["level"]["type"] == "long"
    assert fields["maybe"]["type"] == ["null", "string"]
    assert round_trip(Lits(data={"kind": "cash", "maybe": "x"}))["data"] == {
        "kind": "cash",
        "level": 1,
        "maybe": "x",
    }


def test_temporal_uuid_and_url_logical_types() -> None:
    class Times(Event, name="t/times"):
        when: datetime
        day: date
        at: time
        uid: uuid.UUID
        url: AnyUrl

    fields = data_fields(Times)
    assert fields["when"]["type"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert fields["day"]["type"] == {"type": "int", "logicalType": "date"}
    assert fields["at"]["type"] == {"type": "long", "logicalType": "time-micros"}
    assert fields["uid"]["type"] == {"type": "string", "logicalType": "uuid"}
    assert fields["url"]["type"] == "string"
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    uid = uuid.uuid4()
    data = {
        "when": when,
        "day": date(2024, 5, 6),
        "at": time(1, 2, 3, 4),
        "uid": uid,
        "url": "https://x.io/a",
    }
    decoded = round_trip(Times(data=data))["data"]
    assert decoded["when"] == when  # microseconds survive
    assert decoded["day"] == date(2024, 5, 6)
    assert decoded["at"] == time(1, 2, 3, 4)
    assert decoded["uid"] == uid
    assert decoded["url"] == "https://x.io/a"


def test_naive_datetimes_are_taken_as_utc() -> None:
    class Naive(Event, name="t/naive"):
        when: datetime

    decoded = round_trip(Naive(data={"when": datetime(2024, 1, 1, 12)}))["data"]
    assert decoded["when"] == datetime(2024, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("annotation", "precision", "scale"),
    [
        (Decimal, 38, 9),
        (Annotated[Decimal, Field(max_digits=10, decimal_places=2)], 10, 2),
        (Annotated[Decimal, Field(max_digits=5)], 10, 5),
        (Annotated[Decimal, Field(decimal_places=4)], 38, 4),
    ],
)
def test_decimals_take_precision_and_scale_from_constraints(
    annotation: Any, precision: int, scale: int
) -> None:
    model = type("M", (BaseModel,), {"__annotations__": {"price": annotation}})
    made = model_record(model, namespace="t", owner="M")
    assert made.record["fields"][0]["type"] == {
        "type": "bytes",
        "logicalType": "decimal",
        "precision": precision,
        "scale": scale,
    }


def test_decimals_round_trip_and_out_of_range_values_are_refused_with_their_path() -> None:
    class Priced(Event, name="t/priced"):
        exact: Decimal = Field(max_digits=6, decimal_places=2)
        loose: list[Decimal] = Field(default_factory=list)

    ev = Priced(data={"exact": "1234.5", "loose": ["0.000000001", "-12.25"]})
    decoded = round_trip(ev)["data"]
    assert decoded["exact"] == Decimal("1234.50")
    assert decoded["loose"] == [Decimal("0.000000001"), Decimal("-12.25")]
    too_fine = Priced(data={"exact": "1", "loose": ["1", "0.0000000001"]})
    from weir.testing import memory_weir

    weir = memory_weir()
    with pytest.raises(EventInvalidError) as caught:
        weir.send_sync(too_fine)
    weir.close()
    assert caught.value.path == "data.loose[1]"
    assert "decimal places" in caught.value.message


class Card(BaseModel):
    number: str


class Cash(BaseModel):
    currency: str


def test_unions_of_models_pick_the_branch_by_type() -> None:
    class Paid(Event, name="t/paid"):
        method: Card | Cash
        amount: int | str

    method = data_fields(Paid)["method"]["type"]
    assert [b["name"] for b in method] == ["Data_method_Card", "Data_method_Cash"]
    assert data_fields(Paid)["amount"]["type"] == ["long", "string"]
    cash = Paid(data={"method": {"currency": "EUR"}, "amount": "12"})
    assert round_trip(cash)["data"] == {"method": {"currency": "EUR"}, "amount": "12"}
    card = Paid(data={"method": {"number": "4"}, "amount": 12})
    assert round_trip(card)["data"] == {"method": {"number": "4"}, "amount": 12}


@pytest.mark.parametrize(
    ("annotation", "reason"),
    [
        (Any, "no Avro form"),
        (timedelta, "no Avro form"),
        (dict[int, str], "string keys"),
        (tuple[int, str], "tuples of mixed types"),
        (str | uuid.UUID, "both Avro string"),
        (Literal["a", 1], "mixes value types"),
        (list, "needs an item type"),
    ],
)
def test_types_without_avro_form_fail_when_the_class_is_made(annotation: Any, reason: str) -> None:
    with pytest.raises(EventModelError) as caught:
        type("Bad", (Event,), {"__annotations__": {"field": annotation}}, name="t/bad")
    assert caught.value.code == ErrorCode.EVENT_MODEL_INVALID
    assert "data.field" in caught.value.message
    assert reason in caught.value.message


def test_aliases_are_refused() -> None:
    with pytest.raises(EventModelError, match="aliases"):

        class Aliased(Event, name="t/aliased"):
            first: str = Field(alias="firstName")


def test_generated_converter_reads_attributes_without_model_dump() -> None:
    class Fast(Event, name="t/fast"):
        a: str
        b: list[Address]
        c: Color

    ev = Fast(data={"a": "x", "b": [{"city": "c"}], "c": "red"})
    datum = Fast.avro().to_datum(ev.data)
    assert datum == {"a": "x", "b": [{"city": "c", "zip": None}], "c": "red"}
