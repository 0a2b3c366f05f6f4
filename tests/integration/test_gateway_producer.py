"""The gateway's Kafka writer against the real broker: acknowledged, atomic, or 503."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.gateway.producer import KafkaEventWriter, KafkaRecord, WriterConfig
from tests.support.kafka import Topics, read_to_end
from tests.support.ports import free_port
from weir.errors import BrokerUnavailableError, PayloadTooLargeError

pytestmark = pytest.mark.kafka


def _config(bootstrap: str, topic: str, **options: object) -> WriterConfig:
    return WriterConfig(
        bootstrap=bootstrap,
        topic=topic,
        transactional_id_prefix=f"test-{topic}",
        **options,  # type: ignore[arg-type]
    )


async def _write(config: WriterConfig, *batches: list[KafkaRecord]) -> None:
    writer = KafkaEventWriter(config)
    await writer.start()
    try:
        await asyncio.gather(*(writer.write(batch) for batch in batches))
    finally:
        await writer.close()


def test_single_and_batched_writes_are_acknowledged_and_readable(
    kafka_bootstrap: str, topics: Topics
) -> None:
    topic = topics.create("gw-writer", partitions=3)
    one = [KafkaRecord(b"solo", key=b"k0", headers=[("h", b"v")])]
    batches = [
        [KafkaRecord(f"b{b}-{i}".encode(), key=f"{i}".encode()) for i in range(20)]
        for b in range(6)
    ]
    asyncio.run(_write(_config(kafka_bootstrap, topic, producers=2), one, *batches))
    committed = read_to_end(kafka_bootstrap, topic, isolation="read_committed")
    values = sorted(m.value() for m in committed)
    expected = sorted([b"solo"] + [r.value for batch in batches for r in batch])
    assert values == expected
    solo = next(m for m in committed if m.value() == b"solo")
    assert solo.key() == b"k0"
    assert solo.headers() == [("h", b"v")]


def test_a_batch_keeps_its_order_within_a_partition(kafka_bootstrap: str, topics: Topics) -> None:
    topic = topics.create("gw-order")
    batch = [KafkaRecord(str(i).encode()) for i in range(50)]
    asyncio.run(_write(_config(kafka_bootstrap, topic), batch))
    assert [m.value() for m in read_to_end(kafka_bootstrap, topic)] == [r.value for r in batch]


@pytest.mark.parametrize("records", [1, 5], ids=["single", "batch"])
def test_no_broker_is_broker_unavailable_within_the_deadline(records: int) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    config = _config(nowhere, "nowhere", delivery_timeout=1.5, producers=1)
    began = time.monotonic()
    with pytest.raises(BrokerUnavailableError) as caught:
        asyncio.run(_write(config, [KafkaRecord(b"x")] * records))
    assert caught.value.http_status == 503
    assert caught.value.retryable
    assert time.monotonic() - began < 10


def test_a_batch_kafka_refuses_in_part_is_aborted_whole(
    kafka_bootstrap: str, topics: Topics
) -> None:
    # The topic takes records up to 2000 bytes. Small records spread over both
    # partitions; the broker refuses the partition batch holding the big one
    # and appends the other: part of the transaction reached the log.
    topic = topics.create("gw-abort", partitions=2, **{"max.message.bytes": "2000"})
    small = [KafkaRecord(b"small-%d" % i, key=b"%d" % i) for i in range(20)]
    batch = [*small, KafkaRecord(b"x" * 5000, key=b"big")]
    with pytest.raises(PayloadTooLargeError):
        asyncio.run(_write(_config(kafka_bootstrap, topic, delivery_timeout=5.0), batch))
    assert read_to_end(kafka_bootstrap, topic, isolation="read_committed") == []
    # The premise: some records were in the log, as an aborted transaction.
    uncommitted = read_to_end(kafka_bootstrap, topic, isolation="read_uncommitted")
    assert uncommitted
    assert {m.value() for m in uncommitted} < {r.value for r in small}


def test_a_single_record_over_the_topic_limit_is_too_large(
    kafka_bootstrap: str, topics: Topics
) -> None:
    topic = topics.create("gw-big", **{"max.message.bytes": "2000"})
    with pytest.raises(PayloadTooLargeError) as caught:
        asyncio.run(_write(_config(kafka_bootstrap, topic), [KafkaRecord(b"x" * 5000)]))
    assert caught.value.http_status == 413
    assert read_to_end(kafka_bootstrap, topic) == []
