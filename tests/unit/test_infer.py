"""Schema inference from JSON, compatible evolution, and refusals with field paths."""

from __future__ import annotations

import json
import random
from typing import Any

import avro.schema
import pytest

from weir.errors import ErrorCode, EventInvalidError, SchemaIncompatibleError
from weir.events.compat import incompatibilities
from weir.events.envelope import envelope_schema
from weir.events.infer import evolve_data_record, infer_data_record
from weir.events.validate import compile_checker


def fields(record: dict[str, Any]) -> dict[str, Any]:
    return {f["name"]: f for f in record["fields"]}


def test_json_types_map_to_avro_types() -> None:
    record = infer_data_record(
        "app/user.created",
        {"id": 1, "score": 1.5, "ok": True, "name": "a", "gone": None, "tags": ["x"]},
    )
    assert record["name"] == "Data"
    assert record["namespace"] == "weir.events.app_user_created"
    assert fields(record) == {
        "id": {"name": "id", "type": "long"},
        "score": {"name": "score", "type": "double"},
        "ok": {"name": "ok", "type": "boolean"},
        "name": {"name": "name", "type": "string"},
        "gone": {"name": "gone", "type": "null", "default": None},
        "tags": {"name": "tags", "type": {"type": "array", "items": "string"}},
    }


def test_nested_objects_are_records_named_by_path() -> None:
    record = infer_data_record(
        "e", {"addr": {"city": "c", "geo": {"lat": 1.0}}, "items": [{"sku": "a"}]}
    )
    addr = fields(record)["addr"]["type"]
    assert addr["name"] == "Data_addr"
    assert fields(addr)["geo"]["type"]["name"] == "Data_addr_geo"
    items = fields(record)["items"]["type"]
    assert items["items"]["name"] == "Data_items"


def test_array_elements_merge_into_one_item_type() -> None:
    record = infer_data_record(
        "e",
        {
            "nums": [1, 2.5, None],
            "objs": [{"a": 1}, {"b": "x"}, {"a": 2, "c": None}],
            "empty": [],
        },
    )
    f = fields(record)
    assert f["nums"]["type"]["items"] == ["null", "double"]
    objs = f["objs"]["type"]["items"]
    assert fields(objs) == {
        "a": {"name": "a", "type": ["null", "long"], "default": None},
        "b": {"name": "b", "type": ["null", "string"], "default": None},
        "c": {"name": "c", "type": "null", "default": None},
    }
    assert f["empty"]["type"] == {"type": "array", "items": "null"}


def test_objects_with_keys_avro_cannot_name_become_maps() -> None:
    record = infer_data_record("e", {"headers": {"content-type": "a", "x-id": "b"}})
    assert fields(record)["headers"]["type"] == {"type": "map", "values": "string"}


def test_inferred_schemas_accept_their_own_data() -> None:
    data = {"a": 1, "b": [{"c": None, "d": [1.5]}], "m": {"x-y": [True]}}
    record = infer_data_record("e", data)
    errors: list[Any] = []
    compile_checker(record)(data, "data", errors)
    assert errors == []
    avro.schema.parse(json.dumps(envelope_schema("e", record, inferred=True)))


def test_evolution_adds_optional_fields_and_relaxes_missing_ones() -> None:
    v1 = infer_data_record("e", {"id": 1, "name": "a"})
    v2 = evolve_data_record(v1, {"id": 2, "email": "e@x"})
    assert v2 is not None
    assert fields(v2) == {
        "id": {"name": "id", "type": "long"},
        "name": {"name": "name", "type": ["null", "string"], "default": None},
        "email": {"name": "email", "type": ["null", "string"], "default": None},
    }
    assert evolve_data_record(v2, {"id": 3}) is None  # nothing left to change
    assert incompatibilities(v2, v1) == []


def test_evolution_widens_integers_to_doubles_and_fills_in_null_types() -> None:
    v1 = infer_data_record("e", {"n": 1, "later": None, "list": []})
    v2 = evolve_data_record(v1, {"n": 1.5, "later": "now", "list": [{"k": 1}]})
    assert v2 is not None
    f = fields(v2)
    assert f["n"]["type"] == "double"
    assert f["later"]["type"] == ["null", "string"]
    assert f["list"]["type"]["items"][0] == "null"
    assert f["list"]["type"]["items"][1]["name"] == "Data_list"
    assert incompatibilities(v2, v1) == []


def test_evolution_of_nested_records_keeps_names_stable() -> None:
    v1 = infer_data_record("e", {"addr": {"city": "c"}})
    v2 = evolve_data_record(v1, {"addr": {"city": "c", "zip": "z", "geo": {"lat": 1}}})
    assert v2 is not None
    addr = fields(v2)["addr"]["type"]
    assert addr["name"] == "Data_addr"
    assert fields(addr)["geo"]["type"][1]["name"] == "Data_addr_geo"
    assert incompatibilities(v2, v1) == []


@pytest.mark.parametrize(
    ("first", "then", "path", "reason"),
    [
        ({"a": "s"}, {"a": {"b": 1}}, "data.a", "was a string, is now an object"),
        ({"a": 1}, {"a": "1"}, "data.a", "was an integer, is now a string"),
        ({"a": [1]}, {"a": 1}, "data.a", "was an array, is now an integer"),
        ({"a": {"b": 1}}, {"a": [1]}, "data.a", "was an object, is now an array"),
        ({"a": True}, {"a": 1}, "data.a", "was a boolean, is now an integer"),
        (
            {"items": [{"price": 1}]},
            {"items": [{"price": 1}, {"price": 2}, {"price": "free"}]},
            "data.items[2].price",
            "was an integer, is now a string",
        ),
        ({"a": {"b": 1}}, {"a": {"bad-key": 1}}, "data.a", "not a valid field name"),
    ],
)
def test_incompatible_changes_are_refused_with_path_and_reason(
    first: dict[str, Any], then: dict[str, Any], path: str, reason: str
) -> None:
    record = infer_data_record("e", first)
    with pytest.raises(SchemaIncompatibleError) as caught:
        evolve_data_record(record, then)
    error = caught.value
    assert error.code == ErrorCode.SCHEMA_INCOMPATIBLE
    assert error.http_status == 409
    assert error.detail["path"] == path
    assert reason in error.detail["errors"][0]["message"]
    assert path in error.message


def test_values_no_schema_holds_are_invalid_not_incompatible() -> None:
    with pytest.raises(EventInvalidError) as caught:
        infer_data_record("e", {"big": 2**70})
    assert caught.value.path == "data.big"
    with pytest.raises(EventInvalidError):
        infer_data_record("e", {"s": {1, 2}})
    with pytest.raises(EventInvalidError, match="need one type") as caught:
        infer_data_record("e", {"mixed": [1, "a"]})
    assert caught.value.path == "data.mixed[1]"


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(
        ["int", "float", "str", "bool", "null", "obj", "list"][: 7 if depth < 3 else 5]
    )
    if kind == "int":
        return rng.randint(-5, 5)
    if kind == "float":
        return rng.random()
    if kind == "str":
        return "s"
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "obj":
        return {rng.choice("abcd"): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def test_every_accepted_evolution_reads_old_data_and_holds_the_new() -> None:
    """Property check: whatever evolve accepts is backward compatible and holds the payload."""
    rng = random.Random(7)
    accepted = refused = 0
    for _ in range(300):
        data = {k: _random_value(rng) for k in rng.sample("abcdef", 3)}
        try:
            record = infer_data_record("e", data)
        except EventInvalidError:  # e.g. an array of numbers and strings
            continue
        for _ in range(4):
            more = {k: _random_value(rng) for k in rng.sample("abcdef", 3)}
            try:
                evolved = evolve_data_record(record, more)
            except (SchemaIncompatibleError, EventInvalidError):
                refused += 1
                continue
            if evolved is not None:
                accepted += 1
                assert incompatibilities(evolved, record) == [], (record, more)
                record = evolved
            errors: list[Any] = []
            compile_checker(record)(more, "data", errors)
            assert errors == [], (record, more, errors)
    assert accepted > 50
    assert refused > 50
