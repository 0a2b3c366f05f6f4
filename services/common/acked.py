"""A confluent-kafka producer whose writes can be awaited until Kafka acknowledged them.

The router writes several records per transition (task, fence, history) and
must know they are acknowledged before it stores the run's state. Faust's
own send path costs more CPU per record than the rest of a transition; this
writes through librdkafka, with Java's partitioner (so run-keyed records land
in the same partitions as Faust's), and resolves one asyncio future per
write (a batch of records) from a poll thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaError, Message, Producer

from weir.errors import BrokerUnavailableError


class AckedProducer:
    # No linger: the router writes a batch's records in one burst, which
    # librdkafka sends together anyway; waiting for more only delayed each hop
    # (at 200 events/s, ~3 ms less from event to first call).
    def __init__(self, bootstrap: str, *, linger_ms: float = 0.0) -> None:
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
        batch = _Batch(asyncio.get_running_loop(), len(records))
        for topic, key, value in records:
            while True:
                try:
                    self._producer.produce(topic, value=value, key=key, on_delivery=batch.delivered)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.01)
        await batch.done

    def _poll(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.05)

    def close(self, timeout: float = 10.0) -> None:
        self._closing.set()
        self._poller.join(timeout=1)
        self._producer.flush(timeout)


class _Batch:
    """The acknowledgements of one write, counted on the poll thread.

    One wake-up of the event loop per batch, not per record: waking the loop
    from another thread costs a system call, and a router batch holds hundreds
    of records.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.lock = threading.Lock()  # the poll thread, and produce() when the queue is full
        self.left = count
        self.error: str | None = None
        self.done: asyncio.Future[None] = loop.create_future()

    def delivered(self, error: KafkaError | None, message: Message) -> None:
        with self.lock:
            if error is not None and self.error is None:
                self.error = f"write to {message.topic()} failed: {error}"
            self.left -= 1
            last = self.left == 0
        if last:
            self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        if self.done.done():
            return
        if self.error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(BrokerUnavailableError(self.error))
