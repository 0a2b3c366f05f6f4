"""Compatibility levels and transitivity over Avro's reader/writer check."""

from __future__ import annotations

import json
from typing import Any

import avro.schema
import pytest

from services.registry.compatibility import Level, Previous, check, parse_level
from services.registry.schemas import parse
from weir.errors import RegistryError


def record(*fields: dict[str, Any], name: str = "Order") -> avro.schema.Schema:
    return parse(json.dumps({"type": "record", "name": name, "fields": list(fields)})).avro


def history(*schemas: avro.schema.Schema) -> list[Previous]:
    return [Previous(number, schema) for number, schema in enumerate(schemas, start=1)]


A = {"name": "a", "type": "string"}
B_DEFAULT = {"name": "b", "type": "string", "default": "x"}
B_REQUIRED = {"name": "b", "type": "string"}


def test_backward_checks_the_latest_and_backward_transitive_checks_all() -> None:
    # v3 requires b: v2 data has b, v1 data does not.
    versions = history(record(A), record(A, B_DEFAULT))
    v3 = record(A, B_REQUIRED)
    assert check(Level.BACKWARD, v3, versions) == []
    messages = check(Level.BACKWARD_TRANSITIVE, v3, versions)
    assert len(messages) == 1
    assert "version 1" in messages[0]
    assert "'b'" in messages[0]
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in messages[0]


def test_forward_checks_the_latest_and_forward_transitive_checks_all() -> None:
    # v3 drops b: v2 readers default it, v1 readers require it.
    versions = history(record(A, B_REQUIRED), record(A, B_DEFAULT))
    v3 = record(A)
    assert check(Level.FORWARD, v3, versions) == []
    messages = check(Level.FORWARD_TRANSITIVE, v3, versions)
    assert len(messages) == 1
    assert "version 1 (reader)" in messages[0]
    assert "'b'" in messages[0]


def test_full_needs_both_directions() -> None:
    versions = history(record(A))
    assert check(Level.FULL, record(A, B_DEFAULT), versions) == []
    required = check(Level.FULL, record(A, B_REQUIRED), versions)
    assert len(required) == 1  # old data lacks b: only the backward half fails
    assert "new schema (reader)" in required[0]
    both = check(Level.FULL_TRANSITIVE, record({"name": "a", "type": "int"}), versions)
    assert len(both) == 2  # string <-> int fails each way
    assert all("TYPE_MISMATCH" in message for message in both)


def test_type_promotion_is_one_way() -> None:
    ints = history(record({"name": "n", "type": "int"}))
    longs = record({"name": "n", "type": "long"})
    assert check(Level.BACKWARD, longs, ints) == []  # a long reader reads ints
    assert check(Level.FORWARD, longs, ints) != []  # an int reader cannot read longs


def test_enum_symbols_and_defaults() -> None:
    def color(*symbols: str, default: str | None = None) -> avro.schema.Schema:
        enum: dict[str, Any] = {"type": "enum", "name": "Color", "symbols": list(symbols)}
        if default:
            enum["default"] = default
        return record({"name": "c", "type": enum})

    versions = history(color("RED", "BLUE"))
    assert check(Level.BACKWARD, color("RED", "BLUE", "GREEN"), versions) == []
    forward = check(Level.FORWARD, color("RED", "BLUE", "GREEN"), versions)
    assert len(forward) == 1
    assert "GREEN" in forward[0]
    with_default = history(color("RED", "BLUE", default="RED"))
    assert check(Level.FORWARD, color("RED", "BLUE", "GREEN"), with_default) == []


def test_none_checks_nothing_and_an_empty_history_passes() -> None:
    versions = history(record(A))
    assert check(Level.NONE, record({"name": "a", "type": "int"}), versions) == []
    assert check(Level.FULL_TRANSITIVE, record(A), []) == []


def test_renamed_record_breaks_unless_aliased() -> None:
    versions = history(record(A, name="Order"))
    assert check(Level.BACKWARD, record(A, name="Purchase"), versions) != []
    aliased = parse(
        json.dumps({"type": "record", "name": "Purchase", "aliases": ["Order"], "fields": [A]})
    ).avro
    assert check(Level.BACKWARD, aliased, versions) == []


@pytest.mark.parametrize("level", [level.value for level in Level])
def test_every_level_parses_in_any_case(level: str) -> None:
    assert parse_level(level.lower()) is Level(level)
    assert Level(level).transitive == level.endswith("_TRANSITIVE")


@pytest.mark.parametrize("bad", ["SIDEWAYS", "", None, 3])
def test_unknown_levels_are_42203(bad: object) -> None:
    with pytest.raises(RegistryError) as refused:
        parse_level(bad)
    assert refused.value.error_code == 42203
