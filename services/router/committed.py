"""Make the router's Faust consumer read only committed records, in small batches.

The SDK and the gateway write a list of events as one Kafka transaction, so
an aborted list must stay invisible to the router. Faust reads with
``read_committed`` only in its exactly-once mode (which would also make every
router write transactional); in at-least-once mode it reads uncommitted
records. This wraps the one factory method that builds the aiokafka consumer
and sets the isolation level before the consumer starts (aiokafka hands it
to its fetcher in ``start()``). The same hook lets the broker hold a fetch
for a few milliseconds to gather records (FETCH_MAX_WAIT_MS).
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_PATCHED = "_weir_read_committed"
FETCH_MIN_BYTES = 64 * 1024
FETCH_MAX_WAIT_MS = 2


def configure_consumers() -> None:
    """Idempotent: patch Faust's aiokafka consumer factory once per process, so its
    consumers read committed records, in fetches of a few milliseconds."""
    if getattr(AIOKafkaConsumerThread, _PATCHED, False):
        return
    original = AIOKafkaConsumerThread._create_worker_consumer

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._isolation_level = "read_committed"
        # Let the broker gather a few milliseconds of records per fetch: aiokafka
        # encodes and decodes every fetch in Python, for every partition, and one
        # fetch per record costs the router more than routing the record does.
        consumer._fetch_min_bytes = FETCH_MIN_BYTES
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    setattr(AIOKafkaConsumerThread, "_create_worker_consumer", create)  # noqa: B010
    setattr(AIOKafkaConsumerThread, _PATCHED, True)
