"""Feed numbered records to a stream processor and read back what it emitted.

A ``(key, seq)`` stream makes loss and duplication checkable: seqs grow by one
across all keys, each key is pinned to one partition, and the producer keeps
the set of seqs the broker acknowledged per key, which is the ground truth a
test compares the processor's outputs and state against.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient


class SeqProducer:
    """Sends ``{"seq": n}`` under key ``k<n % keys>``, each key pinned to one partition."""

    def __init__(self, bootstrap: str, topic: str, *, keys: int, partitions: int) -> None:
        self.topic = topic
        self.keys = keys
        self.partitions = partitions
        self.next_seq = 0
        self._lock = threading.Lock()
        self._acked: dict[str, set[int]] = {}
        self._failed: list[str] = []
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True}
        )

    def key_of(self, seq: int) -> str:
        return f"k{seq % self.keys}"

    def partition_of(self, key: str) -> int:
        # Pinned explicitly so every partition gets records whatever the key hash.
        return int(key[1:]) % self.partitions

    def send(self, count: int) -> range:
        """Send ``count`` records with the next seqs and wait for their acks."""
        first = self.next_seq
        for seq in range(first, first + count):
            key = self.key_of(seq)
            self._producer.produce(
                self.topic,
                key=key.encode(),
                value=json.dumps({"seq": seq}).encode(),
                partition=self.partition_of(key),
                on_delivery=self._on_delivery,
            )
            self._producer.poll(0)
        self.next_seq = first + count
        self.flush()
        return range(first, first + count)

    def flush(self) -> None:
        remaining = self._producer.flush(30)
        if remaining or self._failed:
            raise AssertionError(f"{remaining} records unacknowledged, failures: {self._failed}")

    def acked(self) -> dict[str, set[int]]:
        """Seqs the broker acknowledged, per key (a copy)."""
        with self._lock:
            return {key: set(seqs) for key, seqs in self._acked.items()}

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            with self._lock:
                self._failed.append(str(err))
            return
        key = (msg.key() or b"").decode()
        value = msg.value() or b"{}"
        with self._lock:
            self._acked.setdefault(key, set()).add(json.loads(value)["seq"])


class BackgroundSender:
    """Keeps a :class:`SeqProducer` sending in small batches until stopped."""

    def __init__(self, producer: SeqProducer, *, batch: int = 10, pause: float = 0.05) -> None:
        self.producer = producer
        self._batch = batch
        self._pause = pause
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="seq-sender", daemon=True)

    def __enter__(self) -> BackgroundSender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.producer.send(self._batch)
                self._stop.wait(self._pause)
        except BaseException as exc:  # surfaced by stop()
            self._error = exc

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        if self._error is not None:
            raise AssertionError(f"background sender failed: {self._error!r}")


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes
    value: Any  # the JSON-decoded value


class TopicLog:
    """Reads every partition of a topic from the beginning, keeping all records."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.records: list[Record] = []
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"topic-log-{uuid.uuid4().hex[:10]}",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)]
        )

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll(self, duration: float = 0.2) -> None:
        """Append whatever arrives within ``duration`` seconds."""
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            for msg in self._consumer.consume(500, max(left, 0.0)):
                partition, offset = msg.partition(), msg.offset()
                if msg.error() or partition is None or offset is None:
                    raise KafkaException(msg.error())
                raw = msg.value()
                self.records.append(
                    Record(
                        partition=partition,
                        offset=offset,
                        key=msg.key() or b"",
                        value=None if raw is None else json.loads(raw),
                    )
                )
            if left <= 0:
                return

    def wait_until(
        self,
        done: Callable[[], bool],
        *,
        timeout: float,
        what: str,
        explain: Callable[[], str] | None = None,
    ) -> None:
        """Poll until ``done()``; on timeout fail with ``what`` and ``explain()``."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                detail = f": {explain()}" if explain else ""
                raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
            self.poll()


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets on ``topic`` (partitions never committed are absent)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    request = [ConsumerGroupTopicPartitions(group)]
    result = admin.list_consumer_group_offsets(request)[group].result(timeout=10)
    return {
        tp.partition: tp.offset
        for tp in result.topic_partitions
        if tp.topic == topic and tp.offset >= 0
    }


def end_offsets(bootstrap: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "end-offsets"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
    finally:
        consumer.close()
