"""Events kept in memory: the real encoding path, no broker (``memory://``).

Every event is checked and Avro-encoded exactly as the Kafka transport does
(against the catalog, so schema errors show up in tests), then appended to
:attr:`InMemoryTransport.sent` instead of a topic. A list is all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from weir.events.encoder import EncodedEvent, EventEncoder
from weir.events.model import Event
from weir.events.raw import RawEvent
from weir.transports.base import Sendable


@dataclass(frozen=True)
class SentEvent:
    """What was sent (the object given) and what Kafka would have received."""

    event: Sendable
    record: EncodedEvent

    @property
    def name(self) -> str:
        return self.event.name


class InMemoryTransport:
    def __init__(self, encoder: EventEncoder) -> None:
        self.encoder = encoder
        self.sent: list[SentEvent] = []

    async def send(self, events: Sequence[Sendable], *, key: str | None = None) -> list[str]:
        records = await self.encoder.encode_all(events, key=key)
        self.sent.extend(SentEvent(e, r) for e, r in zip(events, records, strict=True))
        return [r.id for r in records]

    async def aclose(self) -> None:
        return None

    def events(self, name: str | type[Event] | None = None) -> list[Sendable]:
        """The events sent so far (of one name or class, when given), oldest first."""
        wanted = name if isinstance(name, str) or name is None else name.name
        return [s.event for s in self.sent if wanted is None or s.name == wanted]

    async def decoded(self) -> list[RawEvent]:
        """The sent events as a consumer would read them back from Kafka."""
        return [await self.encoder.decode(s.record.value) for s in self.sent]

    def clear(self) -> None:
        self.sent.clear()
