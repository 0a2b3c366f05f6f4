"""The Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary.

Any consumer that knows the registry URL (Confluent's AvroDeserializer, Kafka
Connect, ksqlDB, Flink, ...) reads Weir events from these bytes. Encoding and
decoding go through fastavro with schemas parsed once and cached by the
catalog; nothing here talks to the registry.

:func:`encode_event` is the hot path. Avro binary of a record is its fields'
encodings one after the other, so the envelope's fields (name, id, ts, user,
v) are written here directly (the name's bytes are computed once per schema)
and fastavro only writes the data record: the same bytes as fastavro writing
the whole envelope (a unit test holds it to that), at about half the cost.
"""

from __future__ import annotations

import io
import struct
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.types import Schema

from weir.errors import EventInvalidError
from weir.events.envelope import USER_VALUE_TYPES

MAGIC = 0
_HEADER = struct.Struct(">bI")
HEADER_SIZE = _HEADER.size

ParsedSchema = Schema  # what fastavro.parse_schema returns


def parse(schema: dict[str, Any]) -> ParsedSchema:
    """Parse once; the result is what :func:`encode` and :func:`decode` take."""
    return parse_schema(schema)


def header(schema_id: int) -> bytes:
    """The 5 bytes in front of every value written with schema ``schema_id``."""
    return _HEADER.pack(MAGIC, schema_id)


def encode(prefix: bytes, parsed: ParsedSchema, datum: Any) -> bytes:
    """``prefix`` (see :func:`header`) followed by ``datum`` in Avro binary."""
    buffer = io.BytesIO()
    buffer.write(prefix)
    schemaless_writer(buffer, parsed, datum)
    return buffer.getvalue()


def event_prefix(schema_id: int, event_name: str) -> bytes:
    """Header plus the encoded ``name`` field: what every value of one schema starts with."""
    return header(schema_id) + avro_string(event_name)


def encode_event(
    prefix: bytes,
    data_schema: ParsedSchema,
    event_id: str,
    ts: int,
    user: dict[str, Any] | None,
    v: str | None,
    data: Any,
) -> bytes:
    """A whole event in the wire format (see the module docstring)."""
    buffer = io.BytesIO()
    buffer.write(prefix + avro_string(event_id) + _timestamp(ts))
    if user is None:
        buffer.write(_NULL_BRANCH)
    else:
        buffer.write(_SECOND_BRANCH)
        schemaless_writer(buffer, _USER_MAP, user)
    buffer.write(_NULL_BRANCH if v is None else _SECOND_BRANCH + avro_string(v))
    schemaless_writer(buffer, data_schema, data)
    return buffer.getvalue()


def avro_long(value: int) -> bytes:
    """Avro's zigzag varint."""
    zigzag = (value << 1) ^ (value >> 63)
    if zigzag < 0x80:
        return _SMALL[zigzag]
    out = bytearray()
    while zigzag >= 0x80:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


def avro_string(value: str) -> bytes:
    data = value.encode()
    return avro_long(len(data)) + data


def _timestamp(ts: int) -> bytes:
    # Events sent together share milliseconds: remember the last one encoded.
    global _last_ts
    last = _last_ts
    if last[0] == ts:
        return last[1]
    encoded = avro_long(ts)
    _last_ts = (ts, encoded)
    return encoded


_SMALL = [bytes((i,)) for i in range(0x80)]
_NULL_BRANCH = b"\x00"  # union branch 0 (null)
_SECOND_BRANCH = b"\x02"  # union branch 1
_USER_MAP = parse_schema({"type": "map", "values": list(USER_VALUE_TYPES)})
_last_ts: tuple[int, bytes] = (-1, b"")


def schema_id_of(value: bytes) -> int:
    """The schema id in front of a wire-format value."""
    if len(value) < HEADER_SIZE or value[0] != MAGIC:
        raise EventInvalidError(
            "not the Confluent wire format (magic byte 0, 4-byte schema id, Avro binary)",
            path="",
        )
    magic_and_id: tuple[int, int] = _HEADER.unpack_from(value)
    return magic_and_id[1]


def decode(value: bytes, writer: ParsedSchema, reader: ParsedSchema | None = None) -> Any:
    """The datum of a wire-format value written with ``writer`` (read as ``reader``)."""
    buffer = io.BytesIO(value)
    buffer.seek(HEADER_SIZE)
    return schemaless_reader(buffer, writer, reader)
