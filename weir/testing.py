"""Helpers for testing code that sends Weir events, without Kafka or a registry.

::

    from weir.testing import memory_weir

    async def test_checkout():
        weir = memory_weir()                   # memory:// transport + in-memory registry
        await checkout(weir, cart_id="c1")     # your code calls weir.send(...)
        [event] = weir.transport.events(CartAdded)
        assert event.data.cart_id == "c1"

The in-memory path is the real one minus the network: events are validated
and Avro-encoded against a registry that keeps schemas (and refuses
incompatible ones) like a real one, so a test fails where production would.
"""

from __future__ import annotations

from weir.client import Weir
from weir.events.memory_registry import InMemoryRegistry
from weir.functions.testing import RunResult, arun_function, cron_tick, run_function
from weir.transports.memory import InMemoryTransport, SentEvent


class MemoryWeir(Weir):
    """A :class:`Weir` whose transport and registry live in memory (typed accessors)."""

    transport: InMemoryTransport
    registry: InMemoryRegistry


def memory_weir(
    app_id: str = "test",
    *,
    schema_policy: str = "infer",
    registry: InMemoryRegistry | None = None,
) -> MemoryWeir:
    """A Weir client for tests: ``memory://`` transport, in-memory registry."""
    return MemoryWeir(
        app_id,
        transport="memory://",
        registry=registry or InMemoryRegistry(),
        schema_policy=schema_policy,
    )


__all__ = [
    "InMemoryRegistry",
    "InMemoryTransport",
    "MemoryWeir",
    "RunResult",
    "SentEvent",
    "arun_function",
    "cron_tick",
    "memory_weir",
    "run_function",
]
