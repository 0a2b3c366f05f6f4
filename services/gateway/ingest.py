"""The ingest pipeline shared by ``/e/{key}`` and ``/webhooks/{source}``.

Validate and encode every event first, then write them all: a request with
one bad event is refused (422) before anything reaches Kafka, and the ids
are returned only after Kafka acknowledged the whole request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.gateway.producer import EventWriter, KafkaRecord
from services.gateway.timing import Stopwatch
from weir.events.raw import RawEvent


class EventEncoder(Protocol):
    """Validates events against their schemas and encodes them for Kafka.

    Raises :class:`weir.errors.EventInvalidError` naming the offending field
    from the request body's root (``[3].data.price`` when ``is_array``), and
    :class:`weir.errors.RegistryUnavailableError` when the registry cannot be
    reached. Charges its time to the stopwatch.
    """

    async def encode(
        self, events: Sequence[RawEvent], watch: Stopwatch, *, is_array: bool
    ) -> list[KafkaRecord]: ...

    async def close(self) -> None: ...


class Ingest:
    def __init__(self, encoder: EventEncoder, writer: EventWriter) -> None:
        self.encoder = encoder
        self.writer = writer

    async def start(self) -> None:
        await self.writer.start()

    async def close(self) -> None:
        try:
            await self.writer.close()
        finally:
            await self.encoder.close()

    async def accept(
        self, events: Sequence[RawEvent], watch: Stopwatch, *, is_array: bool = False
    ) -> list[str]:
        """Write ``events`` whole or not at all; their ids once Kafka acknowledged them."""
        records = await self.encoder.encode(events, watch, is_array=is_array)
        await self.writer.write(records)
        watch.lap("produce")
        return [event.id for event in events]
