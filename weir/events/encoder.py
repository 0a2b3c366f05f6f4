"""Events <-> Kafka records (key + Confluent wire-format value), through the catalog.

The record key is the event id unless the caller gives one (events with the
same key land in the same partition, in order). Encoding a list is
all-or-nothing: every event is checked and encoded before the first byte is
written anywhere, and an error names the event (``[2].data.price``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from weir.errors import EventInvalidError, WeirError
from weir.events import codec
from weir.events.catalog import CatalogEntry, SchemaCatalog
from weir.events.model import Event
from weir.events.raw import RawEvent
from weir.events.validate import FieldError, invalid

E = TypeVar("E", bound=Event)
Sendable = Event | RawEvent
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EncodedEvent(NamedTuple):
    """One event ready for Kafka."""

    id: str
    name: str
    key: bytes
    value: bytes  # magic byte 0 + schema id + Avro binary of the whole event
    schema_id: int


class EventEncoder:
    def __init__(self, catalog: SchemaCatalog) -> None:
        self.catalog = catalog
        self._readers: dict[type[Event], codec.ParsedSchema] = {}

    async def encode(self, event: Sendable, *, key: str | None = None) -> EncodedEvent:
        if isinstance(event, Event):
            cls = type(event)
            entry = self.catalog.cached_model(cls) or await self.catalog.for_model(cls)
            return _encode_typed(entry, event, key)
        entry, data = await self.catalog.for_data(event.name, event.data)
        value = codec.encode_event(
            entry.prefix, entry.data_parsed, event.id, event.ts, event.user, event.v, data
        )
        return EncodedEvent(
            event.id,
            event.name,
            (event.id if key is None else key).encode(),
            value,
            entry.schema_id,
        )

    async def encode_all(
        self, events: Sequence[Sendable], *, key: str | None = None
    ) -> list[EncodedEvent]:
        """Every event encoded, or the first error (its paths prefixed ``[i].`` in a list)."""
        if len(events) == 1:
            return [await self.encode(events[0], key=key)]
        out = []
        cached = self.catalog.cached_model
        for i, event in enumerate(events):
            try:
                # Typed events of a known class encode without awaiting anything.
                entry = cached(type(event)) if isinstance(event, Event) else None
                if entry is not None:
                    out.append(_encode_typed(entry, event, key))  # type: ignore[arg-type]
                else:
                    out.append(await self.encode(event, key=key))
            except WeirError as exc:
                raise _at(exc, i) from None
        return out

    # -- decoding ---------------------------------------------------------------

    async def decode(self, value: bytes) -> RawEvent:
        """The whole event of a wire-format value (data as decoded Python values)."""
        writer = await self.catalog.writer(codec.schema_id_of(value))
        record = codec.decode(value, writer)
        return RawEvent(
            name=record["name"],
            data=record["data"],
            id=record["id"],
            ts=_ms(record["ts"]),
            user=record.get("user"),
            v=record.get("v"),
        )

    async def decode_as(self, value: bytes, cls: type[E]) -> E:
        """The typed event of a wire-format value, read through ``cls``'s own schema
        (Avro resolution fills fields added since with their defaults)."""
        writer = await self.catalog.writer(codec.schema_id_of(value))
        reader = self._readers.get(cls)
        if reader is None:
            reader = self._readers[cls] = codec.parse(cls.avro_schema())
        record = codec.decode(value, writer, reader)
        record["ts"] = _ms(record["ts"])
        return cls.from_record(record)


def _encode_typed(entry: CatalogEntry, event: Event, key: str | None) -> EncodedEvent:
    assert entry.to_datum is not None
    event_id = event.id
    try:
        value = codec.encode_event(
            entry.prefix,
            entry.data_parsed,
            event_id,
            event.ts,
            event.user,
            event.v,
            entry.to_datum(event.data),
        )
    except (ValueError, TypeError, OverflowError) as exc:
        # The fast path does not track paths; the checker finds where it went wrong.
        data = event.data.model_dump()  # type: ignore[attr-defined]
        _, errors = entry.data_datum(data)
        raise invalid(errors or [FieldError("data", str(exc))], prefix=f"{event.name}: ") from None
    return EncodedEvent(
        event_id, event.name, (event_id if key is None else key).encode(), value, entry.schema_id
    )


def _ms(ts: Any) -> int:
    if isinstance(ts, datetime):
        return (ts - _EPOCH) // _MILLISECOND
    return int(ts)


def _at(exc: WeirError, index: int) -> WeirError:
    """``exc`` about event ``index`` of a list: its paths start with ``[index].``."""
    prefix = f"[{index}]."
    for item in exc.detail.get("errors", []):
        if isinstance(item, dict) and "path" in item:
            item["path"] = prefix + str(item["path"])
    if "path" in exc.detail:
        exc.detail["path"] = prefix + str(exc.detail["path"])
    if isinstance(exc, EventInvalidError):
        exc.path = prefix + exc.path
    exc.message = f"[{index}] {exc.message}"
    exc.args = (exc.message,)
    return exc


_MILLISECOND = datetime.resolution * 1000
