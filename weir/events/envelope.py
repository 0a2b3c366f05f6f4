"""The Avro record of a whole event: the envelope around each event's data.

Every event schema in the registry is one record with the fields ``name``,
``id``, ``ts`` (timestamp-millis), ``user`` (optional map of scalars), ``v``
(optional version string) and ``data`` (the event's own nested record). A
standard Avro consumer therefore reads whole events, not just their data.

Two custom schema properties travel with it: ``weir.event`` (the original
event name, which Avro names cannot spell) and ``weir.inferred`` (true when
Weir inferred the schema from JSON and may evolve it; absent for schemas made
from a typed ``Event`` class, which only their class changes).
"""

from __future__ import annotations

from typing import Any

from weir.errors import SchemaInvalidError
from weir.events.names import EVENTS_NAMESPACE, avro_name, data_namespace

EVENT_PROPERTY = "weir.event"
INFERRED_PROPERTY = "weir.inferred"
DATA_RECORD = "Data"

# Values of ``user`` are scalars so that any consumer reads them without a
# recursive JSON type; nested values are rejected at the edge (event_invalid).
USER_VALUE_TYPES: list[str] = ["null", "boolean", "long", "double", "string"]
ENVELOPE_FIELDS = ("name", "id", "ts", "user", "v", "data")


def envelope_schema(
    event_name: str, data_record: dict[str, Any], *, inferred: bool
) -> dict[str, Any]:
    """The schema of a whole event whose data is ``data_record``."""
    schema: dict[str, Any] = {
        "type": "record",
        "name": avro_name(event_name),
        "namespace": EVENTS_NAMESPACE,
        "doc": f"Weir event {event_name}",
        EVENT_PROPERTY: event_name,
    }
    if inferred:
        schema[INFERRED_PROPERTY] = True
    schema["fields"] = [
        {"name": "name", "type": "string"},
        {"name": "id", "type": "string"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {
            "name": "user",
            "type": ["null", {"type": "map", "values": list(USER_VALUE_TYPES)}],
            "default": None,
        },
        {"name": "v", "type": ["null", "string"], "default": None},
        {"name": "data", "type": data_record},
    ]
    return schema


def empty_data_record(event_name: str) -> dict[str, Any]:
    return {
        "type": "record",
        "name": DATA_RECORD,
        "namespace": data_namespace(event_name),
        "fields": [],
    }


def data_record_of(schema: Any, *, subject: str) -> dict[str, Any]:
    """The ``data`` record of an event schema; :class:`SchemaInvalidError` if it is none."""
    if isinstance(schema, dict) and schema.get("type") == "record":
        fields = {f.get("name"): f for f in schema.get("fields", []) if isinstance(f, dict)}
        data = fields.get("data", {}).get("type")
        if (
            set(ENVELOPE_FIELDS) <= fields.keys()
            and isinstance(data, dict)
            and data.get("type") == "record"
        ):
            return data
    raise SchemaInvalidError(
        f"subject {subject!r} holds a schema that is not a Weir event (a record with the "
        f"fields {', '.join(ENVELOPE_FIELDS)}, data being a record)",
        error_code=42201,
        detail={"subject": subject},
    )


def is_inferred(schema: dict[str, Any]) -> bool:
    return schema.get(INFERRED_PROPERTY) is True
