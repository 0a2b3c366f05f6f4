"""The Confluent wire format, byte for byte."""

from __future__ import annotations

import pytest

from weir.errors import EventInvalidError
from weir.events import codec

SCHEMA = {
    "type": "record",
    "name": "R",
    "fields": [{"name": "n", "type": "long"}, {"name": "s", "type": "string"}],
}


def test_header_is_magic_zero_and_big_endian_schema_id() -> None:
    assert codec.header(1) == b"\x00\x00\x00\x00\x01"
    assert codec.header(0x01020304) == b"\x00\x01\x02\x03\x04"


def test_encoded_value_is_header_then_avro_binary() -> None:
    parsed = codec.parse(SCHEMA)
    value = codec.encode(codec.header(258), parsed, {"n": 1, "s": "x"})
    # long 1 -> zigzag 0x02; string "x" -> length 1 (zigzag 0x02) + b"x"
    assert value == b"\x00\x00\x00\x01\x02" + b"\x02" + b"\x02x"
    assert codec.schema_id_of(value) == 258
    assert codec.decode(value, parsed) == {"n": 1, "s": "x"}


def test_negative_and_large_longs_use_zigzag_varints() -> None:
    parsed = codec.parse(SCHEMA)
    value = codec.encode(codec.header(1), parsed, {"n": -1, "s": ""})
    assert value[5:] == b"\x01\x00"
    value = codec.encode(codec.header(1), parsed, {"n": 64, "s": ""})
    assert value[5:] == b"\x80\x01\x00"


@pytest.mark.parametrize("value", [b"", b"\x00\x00", b"\x01\x00\x00\x00\x01\x02"])
def test_values_not_in_the_wire_format_are_refused(value: bytes) -> None:
    with pytest.raises(EventInvalidError, match="wire format"):
        codec.schema_id_of(value)


def test_decoding_with_a_reader_schema_resolves_added_fields() -> None:
    writer = codec.parse(SCHEMA)
    reader = codec.parse(
        {**SCHEMA, "fields": [*SCHEMA["fields"], {"name": "new", "type": "int", "default": 7}]}
    )
    value = codec.encode(codec.header(1), writer, {"n": 3, "s": "a"})
    assert codec.decode(value, writer, reader) == {"n": 3, "s": "a", "new": 7}


def test_encode_event_writes_the_same_bytes_as_fastavro_writing_the_whole_envelope() -> None:
    from fastavro import parse_schema

    from weir.events.envelope import envelope_schema

    data = {
        "type": "record",
        "name": "Data",
        "namespace": "weir.events.e_x",
        "fields": [
            {"name": "s", "type": "string"},
            {"name": "n", "type": ["null", "long"], "default": None},
        ],
    }
    whole = codec.parse(envelope_schema("e/x", data, inferred=False))
    data_only = parse_schema(data)
    cases = [
        ("01a2-id", 1_700_000_000_123, None, None, {"s": "x", "n": None}),
        ("id-2", 0, {"k": 1, "f": 1.5, "b": True, "s": "v", "z": None}, "v2", {"s": "", "n": 5}),
        ("é-unicode", 2**40, {}, "", {"s": "ünï", "n": -(2**62)}),
    ]
    for event_id, ts, user, v, datum in cases:
        mine = codec.encode_event(
            codec.event_prefix(9, "e/x"), data_only, event_id, ts, user, v, datum
        )
        reference = codec.encode(
            codec.header(9),
            whole,
            {"name": "e/x", "id": event_id, "ts": ts, "user": user, "v": v, "data": datum},
        )
        assert mine == reference
        assert codec.decode(mine, whole)["id"] == event_id


def test_avro_long_matches_the_spec_at_the_edges() -> None:
    assert codec.avro_long(0) == b"\x00"
    assert codec.avro_long(-1) == b"\x01"
    assert codec.avro_long(1) == b"\x02"
    assert codec.avro_long(-64) == b"\x7f"
    assert codec.avro_long(64) == b"\x80\x01"
    assert codec.avro_long(2**63 - 1) == b"\xfe" + b"\xff" * 8 + b"\x01"
    assert codec.avro_long(-(2**63)) == b"\xff" * 9 + b"\x01"
