"""What every transport does: write a list of events, all or none, and say their ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from weir.events.model import Event
from weir.events.raw import RawEvent

Sendable = Event | RawEvent


@runtime_checkable
class Transport(Protocol):
    async def send(self, events: Sequence[Sendable], *, key: str | None = None) -> list[str]:
        """Write ``events`` (all of them or none) and return their ids in order.

        Returns only once the events are durably accepted (Kafka acknowledged
        them, or the gateway answered 200). ``key`` replaces the event id as
        the partition key of every event of the call (where supported).
        """
        ...

    async def aclose(self) -> None:
        """Release connections and threads; the transport is not used afterwards."""
        ...
