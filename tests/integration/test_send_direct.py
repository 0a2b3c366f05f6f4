"""The SDK straight to the real Kafka broker, with the real schema registry.

Events are read back with Confluent's own AvroDeserializer and
SchemaRegistryClient, as any standard Avro consumer would: the value is the
whole event (name, id, ts, user, v, data), not only its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import BaseModel, Field

from tests.support.kafka import Topics, unique
from weir import Event, Weir
from weir.errors import (
    EventInvalidError,
    EventSchemaUnknownError,
    SchemaIncompatibleError,
    WeirError,
)

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def registry_url(kafka_bootstrap: str) -> Iterator[str]:
    """Weir's schema registry as a real process, on its own port and topic."""
    port, topic = _free_port(), unique("_schemas-test")
    env = {
        **os.environ,
        "WEIR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WEIR_REGISTRY_PORT": str(port),
        "WEIR_REGISTRY_HOST": "127.0.0.1",
        "WEIR_REGISTRY_TOPIC": topic,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.registry"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"the registry exited ({process.returncode}):\n{output}")
            try:
                with urllib.request.urlopen(f"{url}/subjects", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the registry did not answer within 60s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        for future in admin.delete_topics([topic]).values():
            with contextlib.suppress(Exception):  # never created (the registry failed early)
                future.result(timeout=30)


def make_weir(bootstrap: str, registry: str, topic: str, **kwargs: Any) -> Weir:
    return Weir(
        "it", transport=f"kafka://{bootstrap}", registry=registry, events_topic=topic, **kwargs
    )


def read_committed(bootstrap: str, topic: str, timeout: float = 30) -> list[Message]:
    """Every committed record of ``topic``: read up to each partition's end, then stop."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("read"),
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wanted = [TopicPartition(topic, p) for p in partitions if ends[p] > 0]
            if all(tp.offset >= ends[tp.partition] for tp in consumer.position(wanted)):
                return out
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                out.append(message)
        raise AssertionError(f"{topic} was not read to its end within {timeout}s")
    finally:
        consumer.close()


def read_whole_events(
    bootstrap: str, registry: str, topic: str
) -> list[tuple[bytes, dict[str, Any]]]:
    """(key, event) of every committed record, decoded with Confluent's deserializer."""
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry}))
    context = SerializationContext(topic, MessageField.VALUE)
    return [(m.key(), deserializer(m.value(), context)) for m in read_committed(bootstrap, topic)]


class LineItem(BaseModel):
    sku: str
    price: Decimal = Field(max_digits=8, decimal_places=2)


class CartAdded(Event, name="shop/cart.added", version="1"):
    cart_id: str
    user_id: str
    items: list[LineItem] = Field(default_factory=list)


class Marker(Event, name="test/marker"):
    n: int


def test_typed_and_untyped_events_are_whole_avro_events_in_kafka(
    kafka_bootstrap: str, registry_url: str, topics: Topics
) -> None:
    topic = topics.create("events", partitions=3)

    async def main() -> tuple[CartAdded, str]:
        async with make_weir(kafka_bootstrap, registry_url, topic) as weir:
            typed = CartAdded(
                data={"cart_id": "c1", "user_id": "u1", "items": [{"sku": "a", "price": "9.5"}]},
                user={"ip": "10.0.0.1", "plan": "pro", "seats": 3},
            )
            assert await weir.send(typed) == [typed.id]
            [untyped] = await weir.send(
                "app/user.created", data={"id": 123, "profile": {"name": "Ada", "tags": ["x"]}}
            )
            return typed, untyped

    typed, untyped_id = asyncio.run(main())
    events = sorted(
        read_whole_events(kafka_bootstrap, registry_url, topic),
        key=lambda kv: kv[1]["name"],
    )
    assert len(events) == 2
    (user_key, user_event), (cart_key, cart_event) = events
    assert cart_key == typed.id.encode()
    assert cart_event == {
        "name": "shop/cart.added",
        "id": typed.id,
        "ts": datetime.fromtimestamp(typed.ts / 1000, tz=UTC),
        "user": {"ip": "10.0.0.1", "plan": "pro", "seats": 3},
        "v": "1",
        "data": {
            "cart_id": "c1",
            "user_id": "u1",
            "items": [{"sku": "a", "price": Decimal("9.50")}],
        },
    }
    assert user_key == untyped_id.encode()
    assert user_event["name"] == "app/user.created"
    assert user_event["id"] == untyped_id
    assert user_event["data"] == {"id": 123, "profile": {"name": "Ada", "tags": ["x"]}}
    assert user_event["user"] is None
    client = SchemaRegistryClient({"url": registry_url})
    assert {"shop/cart.added", "app/user.created"} <= set(client.get_subjects())


def test_infer_evolves_the_registered_schema_and_refuses_incompatible_data(
    kafka_bootstrap: str, registry_url: str, topics: Topics
) -> None:
    topic = topics.create("events", partitions=1)
    name = f"app/evolving.{secrets.token_hex(4)}"

    async def main() -> None:
        async with make_weir(kafka_bootstrap, registry_url, topic) as weir:
            await weir.send(name, data={"a": 1})
            await weir.send(name, data={"a": 2, "b": "new"})
            await weir.send(name, data={"a": 2.5})  # long -> double
            with pytest.raises(SchemaIncompatibleError) as caught:
                await weir.send(name, data={"a": 3, "b": {"now": "an object"}})
            assert caught.value.detail["path"] == "data.b"
            assert "was a string, is now an object" in caught.value.message

    asyncio.run(main())
    client = SchemaRegistryClient({"url": registry_url})
    assert client.get_versions(name) == [1, 2, 3]
    events = [e for _, e in read_whole_events(kafka_bootstrap, registry_url, topic)]
    assert [e["data"] for e in events] == [
        {"a": 1},
        {"a": 2, "b": "new"},
        {"a": 2.5, "b": None},
    ]


def test_strict_policy_rejects_unknown_event_names_and_writes_nothing(
    kafka_bootstrap: str, registry_url: str, topics: Topics
) -> None:
    topic = topics.create("events", partitions=1)

    async def main() -> str:
        async with make_weir(kafka_bootstrap, registry_url, topic, schema_policy="strict") as weir:
            with pytest.raises(EventSchemaUnknownError) as caught:
                await weir.send(f"app/unregistered.{secrets.token_hex(4)}", data={"a": 1})
            assert caught.value.code == "event_schema_unknown"
            [marker] = await weir.send(Marker(data={"n": 1}))  # typed classes register
            return marker

    marker = asyncio.run(main())
    events = read_whole_events(kafka_bootstrap, registry_url, topic)
    assert [e["id"] for _, e in events] == [marker]


def test_a_list_is_written_whole_or_not_at_all(
    kafka_bootstrap: str, registry_url: str, topics: Topics
) -> None:
    # A tiny record limit on the topic makes the broker refuse one record of a batch.
    topic = topics.create("events", partitions=3, **{"max.message.bytes": "4096"})
    name = f"app/batch.{secrets.token_hex(4)}"

    async def main() -> list[str]:
        async with make_weir(kafka_bootstrap, registry_url, topic) as weir:
            good = [Marker(data={"n": i}) for i in range(3)]
            # 1. refused before Kafka: one invalid event in the list
            with pytest.raises(EventInvalidError) as caught:
                await weir.send([*good, {"name": "test/marker", "data": {"n": "x"}}])
            assert caught.value.path == "[3].data.n"
            # 2. refused by Kafka mid-transaction: the whole transaction is aborted
            huge = secrets.token_hex(20_000)
            with pytest.raises(WeirError) as broker:
                await weir.send([*good, {"name": name, "data": {"blob": huge}}])
            assert broker.value.code in ("payload_too_large", "send_failed")
            # 3. a list that is fine: every event, one transaction
            batch = [Marker(data={"n": i}) for i in range(50)]
            return await weir.send(batch)

    ids = asyncio.run(main())
    events = read_whole_events(kafka_bootstrap, registry_url, topic)
    assert sorted(e["id"] for _, e in events) == sorted(ids)


def test_typed_events_decode_back_into_their_class_through_the_registry(
    kafka_bootstrap: str, registry_url: str, topics: Topics
) -> None:
    topic = topics.create("events", partitions=1)
    sent = CartAdded(data={"cart_id": "c9", "user_id": "u9", "items": [{"sku": "s", "price": 1}]})
    with make_weir(kafka_bootstrap, registry_url, topic) as weir:
        assert weir.send_sync(sent) == [sent.id]
    [message] = read_committed(kafka_bootstrap, topic)

    async def decode() -> CartAdded:
        # A fresh client: the writer schema comes from the registry by id.
        async with make_weir(kafka_bootstrap, registry_url, topic) as reader:
            encoder = reader.transport.encoder  # type: ignore[attr-defined]
            event: CartAdded = await encoder.decode_as(message.value(), CartAdded)
            return event

    assert asyncio.run(decode()) == sent
