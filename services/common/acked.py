"""A confluent-kafka producer whose writes can be awaited until Kafka acknowledged them.

The router writes several records per transition (task, fence, history) and
must know they are acknowledged before it stores the run's state. Faust's
own send path costs more CPU per record than the rest of a transition; this
writes through librdkafka, with Java's partitioner (so run-keyed records land
in the same partitions as Faust's), and resolves one asyncio future per
record from a poll thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaError, Message, Producer

from weir.errors import BrokerUnavailableError


class AckedProducer:
    def __init__(self, bootstrap: str, *, linger_ms: float = 1.0) -> None:
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": linger_ms,
                "partitioner": "murmur2_random",
                "compression.type": "lz4",
            }
        )
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="acked-producer", daemon=True)
        self._poller.start()

    async def write(self, records: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Write (topic, key, value) records; return once Kafka acknowledged every one."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for topic, key, value in records:
            future: asyncio.Future[None] = loop.create_future()
            futures.append(future)
            self._produce(topic, key, value, loop, future)
        await asyncio.gather(*futures)

    def _produce(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[None],
    ) -> None:
        def settle(error: KafkaError | None) -> None:
            if future.done():
                return
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(BrokerUnavailableError(f"write to {topic} failed: {error}"))

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            loop.call_soon_threadsafe(settle, error)

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.01)

    def _poll(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.05)

    def close(self, timeout: float = 10.0) -> None:
        self._closing.set()
        self._poller.join(timeout=1)
        self._producer.flush(timeout)
