"""Make the router's Faust consumer read only committed records, in batches when busy.

The SDK and the gateway write a list of events as one Kafka transaction, so
an aborted list must stay invisible to the router. Faust reads with
``read_committed`` only in its exactly-once mode (which would also make every
router write transactional); in at-least-once mode it reads uncommitted
records. This wraps the one factory method that builds the aiokafka consumer
and sets the isolation level before the consumer starts (aiokafka hands it
to its fetcher in ``start()``).

The same hook adapts how long the broker may hold a fetch. aiokafka encodes
and decodes every fetch in Python, for every partition, so a fetch per
record costs the router more than routing the record does; but a fetch held
for a fixed few milliseconds costs hundreds of empty round trips a second
when nothing happens. So: after a fetch that brought records, the next one
waits up to FETCH_MAX_WAIT_MS to gather FETCH_MIN_BYTES (busy: batches);
after one that brought nothing, the next one returns on the first record,
or after IDLE_WAIT_MS (idle: one round trip per record, few when quiet).
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_PATCHED = "_weir_read_committed"
FETCH_MIN_BYTES = 64 * 1024
FETCH_MAX_WAIT_MS = 2
IDLE_WAIT_MS = 250


def configure_consumers() -> None:
    """Idempotent: patch Faust's aiokafka consumer factory once per process, so its
    consumers read committed records, and fetch in batches only while busy."""
    if getattr(AIOKafkaConsumerThread, _PATCHED, False):
        return
    original = AIOKafkaConsumerThread._create_worker_consumer

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._isolation_level = "read_committed"
        start = consumer.start

        async def start_then_adapt() -> None:
            await start()
            adapt_fetches(consumer._fetcher)

        consumer.start = start_then_adapt
        return consumer

    setattr(AIOKafkaConsumerThread, "_create_worker_consumer", create)  # noqa: B010
    setattr(AIOKafkaConsumerThread, _PATCHED, True)


def adapt_fetches(fetcher: Any) -> None:
    """Set each next fetch's wait from what the last one brought (see the module doc)."""
    process = fetcher._proc_fetch_request

    async def process_then_adapt(*args: Any) -> bool:
        brought = bool(await process(*args))
        if brought:
            fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = (
                FETCH_MIN_BYTES,
                FETCH_MAX_WAIT_MS,
            )
        else:
            fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = 1, IDLE_WAIT_MS
        return brought

    fetcher._proc_fetch_request = process_then_adapt
    fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = 1, IDLE_WAIT_MS
