"""confluent-kafka against the real broker: durable produce, transactions."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from tests.support.kafka import Topics, drain, produce, read_to_end, unique

pytestmark = pytest.mark.kafka


def test_idempotent_acks_all_produce_then_consume(kafka_bootstrap: str, topics: Topics) -> None:
    topic = topics.create("ck", partitions=3)
    acked: list[tuple[int, int]] = []

    def on_delivery(err: KafkaError | None, msg: object) -> None:
        assert err is None, err
        acked.append((msg.partition(), msg.offset()))  # type: ignore[attr-defined]

    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "acks": "all", "enable.idempotence": True}
    )
    for i in range(300):
        producer.produce(
            topic, key=f"k{i % 7}".encode(), value=str(i).encode(), on_delivery=on_delivery
        )
    assert producer.flush(30) == 0
    assert len(acked) == 300
    assert len(set(acked)) == 300, "every record has its own (partition, offset)"

    got = drain(kafka_bootstrap, topic, expect=300)
    assert sorted(int(m.value()) for m in got) == list(range(300))
    # One key always lands in one partition, in the order produced.
    by_key: dict[bytes, list[int]] = {}
    for m in got:
        by_key.setdefault(m.key(), []).append(int(m.value()))
    for values in by_key.values():
        assert values == sorted(values)


def test_transaction_commits_output_and_offsets_atomically(
    kafka_bootstrap: str, topics: Topics
) -> None:
    source = topics.create("tx-in", partitions=2)
    sink = topics.create("tx-out", partitions=2)
    produce(kafka_bootstrap, source, ((None, f"m{i}".encode()) for i in range(50)))

    group = unique("tx-group")
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([source])
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)

    # Read everything, then write it transformed inside one committed transaction.
    batch = []
    while len(batch) < 50:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            batch.append(msg)
    producer.begin_transaction()
    for msg in batch:
        producer.produce(sink, value=msg.value().upper())
    producer.send_offsets_to_transaction(
        consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 30
    )
    producer.commit_transaction(30)

    # A second transaction is aborted: read_committed readers never see it.
    producer.begin_transaction()
    for i in range(10):
        producer.produce(sink, value=f"aborted{i}".encode())
    producer.flush(30)  # on the broker for real, else abort merely purges the local queue
    producer.abort_transaction(30)
    consumer.close()

    committed_view = read_to_end(kafka_bootstrap, sink, isolation="read_committed")
    assert sorted(m.value() for m in committed_view) == sorted(f"M{i}".encode() for i in range(50))

    # The group's offsets were committed by the transaction, at the end of the source.
    checker = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    committed = checker.committed([TopicPartition(source, p) for p in range(2)], timeout=10)
    checker.close()
    assert sum(tp.offset for tp in committed) == 50


def test_aborted_transaction_is_invisible_to_read_committed(
    kafka_bootstrap: str, topics: Topics
) -> None:
    sink = topics.create("tx-abort")
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(sink, value=b"never")
    producer.flush(30)  # on the broker for real, else abort merely purges the local queue
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(sink, value=b"kept")
    producer.commit_transaction(30)

    seen = read_to_end(kafka_bootstrap, sink, isolation="read_committed")
    assert [m.value() for m in seen] == [b"kept"]
    raw = read_to_end(kafka_bootstrap, sink, isolation="read_uncommitted")
    assert sorted(m.value() for m in raw) == [b"kept", b"never"]
