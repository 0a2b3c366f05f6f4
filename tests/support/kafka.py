"""Small helpers over a real broker: topics, produce, drain."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Topics:
    """Creates topics for one test and deletes them afterwards."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.created: list[str] = []

    def create(self, prefix: str = "t", partitions: int = 1, **config: str) -> str:
        name = unique(prefix)
        futures = self.admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config)]
        )
        for future in futures.values():
            future.result(timeout=30)
        self._wait_for_leaders(name, partitions)
        self.created.append(name)
        return name

    def _wait_for_leaders(self, name: str, partitions: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            meta = self.admin.list_topics(name, timeout=5).topics.get(name)
            if (
                meta
                and meta.error is None
                and len(meta.partitions) == partitions
                and all(p.leader >= 0 for p in meta.partitions.values())
            ):
                return
            time.sleep(0.05)
        raise TimeoutError(f"topic {name} has no leaders after 30s")

    def delete_all(self) -> None:
        if self.created:
            try:
                for future in self.admin.delete_topics(self.created).values():
                    future.result(timeout=30)
            except KafkaException:
                pass  # a broker restarted by the test may not know the topic yet
        self.created.clear()


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    count = 0
    for key, value in records:
        producer.produce(topic, key=key, value=value)
        count += 1
        producer.poll(0)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} records not acknowledged"
    return count


def drain(
    bootstrap: str,
    topic: str,
    *,
    expect: int,
    timeout: float = 60.0,
    isolation: str = "read_uncommitted",
) -> list[Message]:
    """Read ``topic`` from the start until ``expect`` records arrived or time is up."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("drain"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    consumer.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            out.append(msg)
    finally:
        consumer.close()
    return out


def read_to_end(
    bootstrap: str, topic: str, *, isolation: str = "read_uncommitted", timeout: float = 30.0
) -> list[Message]:
    """Every record of ``topic`` up to its current end (no waiting on a count)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("read"),
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
        consumer.assign(parts)
        out: list[Message] = []
        pending = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is not None and not msg.error():
                out.append(msg)
            for tp in consumer.position([TopicPartition(topic, p) for p in list(pending)]):
                if tp.offset >= ends[tp.partition]:
                    pending.discard(tp.partition)
        if pending:
            raise TimeoutError(f"{topic}: partitions {sorted(pending)} not read to the end")
        return out
    finally:
        consumer.close()
