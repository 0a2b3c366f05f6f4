"""Typed events, their Avro schemas, the registry-backed catalog and the wire format.

Modules, each with one job:

* :mod:`~weir.events.model`: ``Event``, the base of typed events
* :mod:`~weir.events.raw`: ``RawEvent`` (data as a plain dict) and JSON parsing
* :mod:`~weir.events.avro_schema`: Pydantic model -> Avro record + fast datum converter
* :mod:`~weir.events.infer`: JSON -> Avro schema, and compatible evolution
* :mod:`~weir.events.validate`: value -> datum against a schema, errors with field paths
* :mod:`~weir.events.envelope`: the Avro record of a whole event
* :mod:`~weir.events.codec`: the Confluent wire format (fastavro)
* :mod:`~weir.events.registry`: the schema registry client (Confluent REST API)
* :mod:`~weir.events.catalog`: event name -> schema, cached; registration and policy
* :mod:`~weir.events.encoder`: events <-> wire bytes, using the catalog
* :mod:`~weir.events.checks`, :mod:`~weir.events.ids`, :mod:`~weir.events.names`: the
  envelope fields' checks, UUIDv7 ids, event names -> Avro names and subjects
* :mod:`~weir.events.jsonable`: values -> their JSON form (the HTTP API's)
* :mod:`~weir.events.compat`, :mod:`~weir.events.memory_registry`: Avro compatibility
  and the in-memory registry of ``weir.testing``

See docs/events.md.
"""

from weir.events.catalog import CatalogEntry, SchemaCatalog, SchemaPolicy
from weir.events.encoder import EncodedEvent, EventEncoder
from weir.events.ids import new_event_id
from weir.events.model import Event, event_class
from weir.events.raw import RawEvent, parse_events
from weir.events.registry import HttpSchemaRegistry, RegisteredSchema, SchemaRegistry

__all__ = [
    "CatalogEntry",
    "EncodedEvent",
    "Event",
    "EventEncoder",
    "HttpSchemaRegistry",
    "RawEvent",
    "RegisteredSchema",
    "SchemaCatalog",
    "SchemaPolicy",
    "SchemaRegistry",
    "event_class",
    "new_event_id",
    "parse_events",
]
