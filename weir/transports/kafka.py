"""Events straight to Kafka: Avro in the Confluent wire format, acks=all, idempotent.

``kafka://host:port[,host:port...]`` selects it. A call returns only after
Kafka acknowledged every event. One event goes through an idempotent producer;
several go through one Kafka transaction, so a list is written whole or not at
all (see :mod:`weir.transports.kafka_writers`). The events topic is created on
first use when missing (``events_partitions`` partitions, the broker's
default replication).

Record key: the event id, or the ``key`` given to ``send`` (events sharing a
key share a partition and keep their order).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from weir.errors import BrokerUnavailableError
from weir.events.encoder import EncodedEvent, EventEncoder
from weir.transports.base import Sendable
from weir.transports.kafka_errors import kafka_error
from weir.transports.kafka_writers import BatchWriter, SingleWriter


class KafkaTransport:
    def __init__(
        self,
        bootstrap: str,
        encoder: EventEncoder,
        *,
        topic: str = "weir.events",
        partitions: int = 6,
        timeout: float = 30.0,
        app_id: str = "weir",
        producer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.encoder = encoder
        self.topic = topic
        self.partitions = partitions
        self.timeout = timeout
        self.app_id = app_id
        timeout_ms = int(timeout * 1000)
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": f"weir-{app_id}",
            # Measured on 2 cores with the broker beside (bench/send_direct.py): lz4 and a
            # 5 ms linger give the best mix of single-event and list throughput.
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.timeout.ms": timeout_ms,
            "transaction.timeout.ms": max(60_000, timeout_ms),
            **(producer_config or {}),
        }
        self._single: SingleWriter | None = None
        self._batch: BatchWriter | None = None
        self._topic_ready = False
        self._lock = threading.Lock()

    async def send(self, events: Sequence[Sendable], *, key: str | None = None) -> list[str]:
        records = await self.encoder.encode_all(events, key=key)
        await self.write(records)
        return [r.id for r in records]

    async def write(self, records: Sequence[EncodedEvent]) -> None:
        """Write already-encoded events: one directly, several in one transaction."""
        if not records:
            return
        if not self._topic_ready:
            await asyncio.to_thread(self._ensure_topic)
        if len(records) == 1:
            await self._single_writer().write(records[0])
        else:
            await self._batch_writer().write(records)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        with self._lock:
            single, self._single = self._single, None
            batch, self._batch = self._batch, None
        if single is not None:
            single.close(self.timeout)
        if batch is not None:
            batch.close()

    # -- internals ---------------------------------------------------------------

    def _single_writer(self) -> SingleWriter:
        if self._single is None:
            with self._lock:
                if self._single is None:
                    self._single = SingleWriter(self._config, self.topic)
        return self._single

    def _batch_writer(self) -> BatchWriter:
        if self._batch is None:
            with self._lock:
                if self._batch is None:
                    # Unique per writer: two processes must never share a transactional id.
                    tid = f"weir-{self.app_id}-{uuid.uuid4().hex[:16]}"
                    self._batch = BatchWriter(self._config, self.topic, tid, self.timeout)
        return self._batch

    def _ensure_topic(self) -> None:
        with self._lock:
            if self._topic_ready:
                return
            admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 4})
            topic = NewTopic(self.topic, num_partitions=self.partitions)
            try:
                admin.create_topics([topic])[self.topic].result(timeout=self.timeout)
            except TimeoutError:
                raise BrokerUnavailableError(
                    f"Kafka at {self.bootstrap} did not answer within {self.timeout}s",
                    detail={"bootstrap": self.bootstrap},
                ) from None
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                # Not allowed to create topics is fine when it exists: producing will tell.
                if error.code() not in _TOPIC_FINE:
                    raise kafka_error(error, f"creating topic {self.topic}") from None
            self._topic_ready = True


_TOPIC_FINE = {
    KafkaError.TOPIC_ALREADY_EXISTS,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}
