"""Events as the router sees them: whole envelopes as plain JSON-able dicts.

Every event on the events topic is Avro in the Confluent wire format. The
writer schema is fetched from the registry once per schema id and cached;
decoding needs no reader schema because the router reads whatever the
writer wrote (the envelope's fields are the same for every event).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from weir.events import codec
from weir.events.jsonable import to_jsonable
from weir.events.registry import SchemaRegistry


class EventDecoder:
    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self._writers: dict[int, codec.ParsedSchema] = {}

    async def decode(self, value: bytes) -> dict[str, Any]:
        schema_id = codec.schema_id_of(value)
        writer = self._writers.get(schema_id)
        if writer is None:
            writer = codec.parse(json.loads(await self.registry.schema_by_id(schema_id)))
            self._writers[schema_id] = writer
        record = codec.decode(value, writer)
        if not isinstance(record, dict):
            raise ValueError("an event is an Avro record")
        ts = record.get("ts")
        if isinstance(ts, datetime):  # timestamp-millis: the JSON form is epoch milliseconds
            record["ts"] = int(ts.timestamp() * 1000)
        event: dict[str, Any] = to_jsonable(record, datum=True)
        return event
