"""aiokafka against the real broker: produce/consume and a consumer group."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support.kafka import Topics, unique

pytestmark = pytest.mark.kafka


def test_produce_and_consume(kafka_bootstrap: str, topics: Topics) -> None:
    topic = topics.create("aio", partitions=2)

    async def scenario() -> list[bytes]:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            sent = [await producer.send_and_wait(topic, f"v{i}".encode()) for i in range(100)]
            assert all(meta.offset >= 0 for meta in sent)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=unique("aio-g"),
            auto_offset_reset="earliest",
        )
        await consumer.start()
        got: list[bytes] = []
        try:
            async with asyncio.timeout(30):
                while len(got) < 100:
                    batch = await consumer.getmany(timeout_ms=500)
                    got.extend(m.value for records in batch.values() for m in records)
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(scenario())
    assert sorted(got) == sorted(f"v{i}".encode() for i in range(100))


def test_consumer_group_splits_partitions_and_commits(kafka_bootstrap: str, topics: Topics) -> None:
    topic = topics.create("aio-grp", partitions=4)
    group = unique("aio-group")
    total = 400

    async def scenario() -> tuple[dict[str, set[int]], dict[str, list[bytes]]]:
        members = [
            AIOKafkaConsumer(
                topic,
                bootstrap_servers=kafka_bootstrap,
                group_id=group,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                session_timeout_ms=10_000,
                heartbeat_interval_ms=1_000,
            )
            for _ in range(2)
        ]
        for member in members:
            await member.start()
        # Wait until the group settled with both members holding partitions.
        async with asyncio.timeout(30):
            while not all(len(m.assignment()) == 2 for m in members):
                await asyncio.gather(*(m.getmany(timeout_ms=200) for m in members))
        assignments = {
            f"m{i}": {tp.partition for tp in m.assignment()} for i, m in enumerate(members)
        }

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(total):
                await producer.send(topic, f"r{i}".encode(), partition=i % 4)
            await producer.flush()
        finally:
            await producer.stop()

        received: dict[str, list[bytes]] = {"m0": [], "m1": []}

        async def consume(name: str, member: AIOKafkaConsumer) -> None:
            while sum(len(v) for v in received.values()) < total:
                batch = await member.getmany(timeout_ms=200)
                for records in batch.values():
                    received[name].extend(r.value for r in records)
                if batch:
                    await member.commit()

        try:
            async with asyncio.timeout(30):
                await asyncio.gather(*(consume(f"m{i}", m) for i, m in enumerate(members)))
        finally:
            for member in members:
                await member.stop()
        return assignments, received

    assignments, received = asyncio.run(scenario())
    assert assignments["m0"] | assignments["m1"] == {0, 1, 2, 3}
    assert not assignments["m0"] & assignments["m1"], "a partition has one owner in a group"
    everything = received["m0"] + received["m1"]
    assert len(everything) == total, "each record delivered once within a stable group"
    assert set(everything) == {f"r{i}".encode() for i in range(total)}
    for name, values in received.items():
        # A member only sees records of the partitions it owns.
        owned = {int(v[1:]) % 4 for v in values}
        assert owned <= assignments[name]
