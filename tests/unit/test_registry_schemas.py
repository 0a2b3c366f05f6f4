"""Avro parsing, the normal form (same schema -> same text), and default checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.registry.records import Reference
from services.registry.schemas import Dependency, parse
from weir.errors import RegistryError

USER = {
    "type": "record",
    "name": "User",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    ],
}


def canonical(schema: Any) -> str:
    return parse(schema if isinstance(schema, str) else json.dumps(schema)).canonical


def test_the_same_schema_written_differently_has_one_normal_form() -> None:
    spellings = [
        json.dumps(USER),
        json.dumps(USER, indent=4),
        json.dumps(dict(reversed(list(USER.items())))),
        json.dumps({**USER, "name": "shop.User", "namespace": "ignored.when.name.is.full"}),
        json.dumps(
            {
                **USER,
                "fields": [
                    {"type": "string", "name": "id", "order": "ascending"},
                    {"default": [], "name": "tags", "type": {"items": "string", "type": "array"}},
                ],
            }
        ),
    ]
    forms = {canonical(text) for text in spellings}
    assert len(forms) == 1
    assert json.loads(forms.pop()) == {
        "type": "record",
        "name": "shop.User",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        ],
    }


def test_what_changes_a_reader_changes_the_normal_form() -> None:
    base = canonical(USER)
    other_default = {**USER, "fields": [USER["fields"][0], {**USER["fields"][1], "default": ["a"]}]}
    with_doc = {**USER, "doc": "a shopper"}
    descending = {
        **USER,
        "fields": [{**USER["fields"][0], "order": "descending"}, USER["fields"][1]],
    }
    custom = {**USER, "x-owner": {"team": "cart", "area": "shop"}}
    forms = [canonical(s) for s in (other_default, with_doc, descending, custom)]
    assert base not in forms
    assert len(set(forms)) == len(forms)
    assert '"x-owner":{"area":"shop","team":"cart"}' in canonical(custom)  # sorted inside too


def test_named_types_are_written_once_then_by_full_name() -> None:
    money = {"type": "fixed", "name": "Cents", "size": 8}
    order = {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "aliases": ["OldOrder"],
        "fields": [{"name": "total", "type": money}, {"name": "tax", "type": "Cents"}],
    }
    written = json.loads(canonical(order))
    assert written["aliases"] == ["shop.OldOrder"]
    assert written["fields"][0]["type"] == {"type": "fixed", "name": "shop.Cents", "size": 8}
    assert written["fields"][1]["type"] == "shop.Cents"


def test_logical_types_and_primitives_with_properties_are_kept() -> None:
    when = {"type": "long", "logicalType": "timestamp-millis"}
    schema = {"type": "record", "name": "E", "fields": [{"name": "at", "type": when}]}
    assert json.loads(canonical(schema))["fields"][0]["type"] == when
    assert canonical('"string"') == '"string"'
    assert canonical({"type": "string"}) == '"string"'


@pytest.mark.parametrize(
    ("field_type", "default"),
    [
        ("int", 1),
        ("long", 2**40),
        ("double", 1),
        ("boolean", False),
        ("bytes", "\u00ff"),
        (["null", "string"], None),
        (["string", "null"], "x"),
        ({"type": "map", "values": "int"}, {"a": 1}),
        ({"type": "enum", "name": "C", "symbols": ["R", "G"]}, "G"),
        ({"type": "fixed", "name": "F", "size": 2}, "ab"),
        (
            {
                "type": "record",
                "name": "In",
                "fields": [
                    {"name": "a", "type": "int"},
                    {"name": "b", "type": "int", "default": 0},
                ],
            },
            {"a": 1},
        ),
    ],
)
def test_valid_defaults_are_accepted(field_type: Any, default: Any) -> None:
    field = {"name": "f", "type": field_type, "default": default}
    parse(json.dumps({"type": "record", "name": "R", "fields": [field]}))


@pytest.mark.parametrize(
    ("field_type", "default"),
    [
        ("int", "1"),
        ("int", 2**31),
        ("int", True),
        ("string", None),
        ("boolean", 0),
        (["null", "string"], "x"),  # a union's default takes its first branch
        ({"type": "array", "items": "int"}, ["a"]),
        ({"type": "enum", "name": "C", "symbols": ["R"]}, "B"),
        ({"type": "fixed", "name": "F", "size": 2}, "abc"),
        ({"type": "record", "name": "In", "fields": [{"name": "a", "type": "int"}]}, {}),
    ],
)
def test_invalid_defaults_are_42201(field_type: Any, default: Any) -> None:
    field = {"name": "f", "type": field_type, "default": default}
    with pytest.raises(RegistryError) as refused:
        parse(json.dumps({"type": "record", "name": "R", "fields": [field]}))
    assert refused.value.error_code == 42201
    assert "'f'" in refused.value.message


@pytest.mark.parametrize(
    ("text", "schema_type", "words"),
    [
        ("{oops", "AVRO", "not JSON"),
        ('{"type": "record", "name": "R"}', "AVRO", "fields"),
        ('{"type": "nope"}', "AVRO", "nope"),
        ('"NotAType"', "AVRO", "NotAType"),
        ("   ", "AVRO", "Empty"),
        ("{}", "JSON", "JSON is not supported"),
        ('syntax = "proto3";', "PROTOBUF", "PROTOBUF is not supported"),
    ],
)
def test_invalid_schemas_are_42201(text: str, schema_type: str, words: str) -> None:
    with pytest.raises(RegistryError) as refused:
        parse(text, schema_type)
    assert refused.value.error_code == 42201
    assert words in refused.value.message


def test_references_resolve_through_the_resolver_and_are_written_by_name() -> None:
    address = json.dumps(
        {"type": "record", "name": "shop.Address", "fields": [{"name": "city", "type": "string"}]}
    )
    customer = {
        "type": "record",
        "name": "Customer",
        "namespace": "shop",
        "fields": [{"name": "home", "type": "Address"}, {"name": "work", "type": "shop.Address"}],
    }
    ref = Reference("shop.Address", "address", 1)
    stored = {("address", 1): Dependency(address, ())}
    parsed = parse(
        json.dumps(customer), "AVRO", [ref], lambda r: stored.get((r.subject, r.version))
    )
    fields = json.loads(parsed.canonical)["fields"]
    assert [f["type"] for f in fields] == ["shop.Address", "shop.Address"]
    assert parsed.references == (ref,)

    with pytest.raises(RegistryError) as missing:
        parse(json.dumps(customer), "AVRO", [Reference("shop.Address", "gone", 3)], stored.get)
    assert missing.value.error_code == 42201
    assert "'gone'" in missing.value.message


def test_fingerprints_separate_type_text_and_references() -> None:
    one = parse(json.dumps(USER))
    again = parse(json.dumps(USER, indent=1))
    assert one.fingerprint == again.fingerprint
    assert one.fingerprint != parse('"string"').fingerprint
