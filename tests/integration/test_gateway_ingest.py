"""``POST /e/{key}`` end to end: real HTTP, the real registry (its own process), the real broker.

Every refusal is checked twice: its status and stable code, and that the
test's own events topic is still empty afterwards (not even an aborted
record). Accepted events are read back and decoded with Confluent's own
AvroDeserializer and SchemaRegistryClient, as any consumer would.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import BaseModel

from services.gateway.testing import GatewayProcess, gateway_settings, serve_gateway
from services.registry.testing import RegistryProcess
from tests.support.kafka import Topics, read_to_end, unique
from tests.support.ports import free_port
from weir import Event

pytestmark = pytest.mark.kafka
PROBLEM = "application/problem+json"
KEY = "test-key"


@pytest.fixture(scope="module")
def registry(kafka_bootstrap: str) -> Iterator[RegistryProcess]:
    schemas = Topics(kafka_bootstrap)
    topic = unique("_schemas-gw")
    schemas.created.append(topic)  # the registry creates it; we delete it
    with RegistryProcess(kafka_bootstrap, topic) as process:
        yield process
    schemas.delete_all()


def _gateway(bootstrap: str, topic: str, registry: RegistryProcess, **overrides: Any) -> Any:
    return serve_gateway(gateway_settings(bootstrap, topic, registry.url, **overrides))


def _decoded(bootstrap: str, topic: str, registry_url: str) -> list[tuple[bytes, dict[str, Any]]]:
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    context = SerializationContext(topic, MessageField.VALUE)
    out = []
    for message in read_to_end(bootstrap, topic, isolation="read_committed"):
        value = deserialize(message.value(), context)
        assert isinstance(value, dict)
        out.append((message.key(), value))
    return out


def _nothing_written(bootstrap: str, topic: str) -> None:
    assert read_to_end(bootstrap, topic, isolation="read_uncommitted") == []


def _problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, Any] = answer.json()
    assert body["code"] == code
    assert body["status"] == status
    return body


def _register(registry: RegistryProcess, cls: type[Event]) -> None:
    answer = httpx.post(
        f"{registry.url}/subjects/{cls.name.replace('/', '%2F')}/versions",
        json={"schema": json.dumps(cls.avro_schema())},
    )
    assert answer.status_code == 200, answer.text


class Item(BaseModel):
    sku: str
    price: float


def _order_class() -> type[Event]:
    class OrderPlaced(Event, name=f"shop/order.placed-{uuid.uuid4().hex[:8]}"):
        order_id: str
        items: list[Item]

    return OrderPlaced


def test_one_event_is_acknowledged_then_readable_as_avro(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess
) -> None:
    topic = topics.create("gw-one")
    name = f"app/user.created-{uuid.uuid4().hex[:8]}"
    event = {"name": name, "data": {"id": 123, "email": "a@b.c"}, "user": {"id": "u1"}}
    with _gateway(kafka_bootstrap, topic, registry) as gateway:
        answer = httpx.post(f"{gateway.url}/e/{KEY}", json=event)
    assert answer.status_code == 200, answer.text
    [event_id] = answer.json()["ids"]
    [(key, value)] = _decoded(kafka_bootstrap, topic, registry.url)
    assert key == event_id.encode()
    assert value["name"] == name
    assert value["id"] == event_id
    assert value["data"] == {"id": 123, "email": "a@b.c"}
    assert value["user"] == {"id": "u1"}
    assert abs(value["ts"].timestamp() - time.time()) < 60


def test_an_array_is_written_whole_in_order(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess
) -> None:
    topic = topics.create("gw-array", partitions=3)
    names = [f"app/a-{uuid.uuid4().hex[:8]}", f"app/b-{uuid.uuid4().hex[:8]}"]
    events = [
        {"name": names[i % 2], "id": f"ev-{i}", "ts": 1_700_000_000_000 + i, "data": {"n": i}}
        for i in range(40)
    ]
    with _gateway(kafka_bootstrap, topic, registry) as gateway:
        answer = httpx.post(f"{gateway.url}/e/{KEY}", json=events)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ids": [f"ev-{i}" for i in range(40)]}
    decoded = _decoded(kafka_bootstrap, topic, registry.url)
    assert sorted((v["id"], v["name"], v["data"]["n"]) for _, v in decoded) == sorted(
        (f"ev-{i}", names[i % 2], i) for i in range(40)
    )


def test_a_typed_schema_is_enforced_and_one_bad_event_refuses_the_array(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess
) -> None:
    topic = topics.create("gw-typed")
    order = _order_class()
    _register(registry, order)
    good = {"name": order.name, "data": {"order_id": "o1", "items": [{"sku": "a", "price": 2.5}]}}
    bad = {"name": order.name, "data": {"order_id": "o4", "items": [{"sku": "a", "price": "x"}]}}
    with _gateway(kafka_bootstrap, topic, registry, schema_policy="strict") as gateway:
        refused = httpx.post(f"{gateway.url}/e/{KEY}", json=[good, good, good, bad])
        body = _problem(refused, 422, "event_invalid")
        assert body["path"] == "[3].data.items[0].price"
        assert body["detail"].startswith("[3] ")
        assert "data.items[0].price" in body["detail"]
        _nothing_written(kafka_bootstrap, topic)

        lone = _problem(httpx.post(f"{gateway.url}/e/{KEY}", json=bad), 422, "event_invalid")
        assert lone["path"] == "data.items[0].price"
        in_array = _problem(httpx.post(f"{gateway.url}/e/{KEY}", json=[bad]), 422, "event_invalid")
        assert in_array["path"] == "[0].data.items[0].price"
        _nothing_written(kafka_bootstrap, topic)

        accepted = httpx.post(f"{gateway.url}/e/{KEY}", json=[good, good])
        assert accepted.status_code == 200, accepted.text
    decoded = _decoded(kafka_bootstrap, topic, registry.url)
    assert [v["data"] for _, v in decoded] == [good["data"], good["data"]]


def test_strict_policy_refuses_an_event_without_a_schema(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess
) -> None:
    topic = topics.create("gw-strict")
    order = _order_class()
    _register(registry, order)
    known = {"name": order.name, "data": {"order_id": "o1", "items": []}}
    unknown = {"name": f"app/unheard-of-{uuid.uuid4().hex[:8]}", "data": {"x": 1}}
    with _gateway(kafka_bootstrap, topic, registry, schema_policy="strict") as gateway:
        answer = httpx.post(f"{gateway.url}/e/{KEY}", json=[known, unknown])
    body = _problem(answer, 422, "event_schema_unknown")
    assert body["path"] == "[1].name"
    _nothing_written(kafka_bootstrap, topic)


def test_request_errors_are_problems_and_write_nothing(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess
) -> None:
    topic = topics.create("gw-errors")
    limits = {"gateway_max_body_bytes": 4096, "gateway_max_events": 3}
    event = {"name": "app/x", "data": {"a": 1}}
    with _gateway(kafka_bootstrap, topic, registry, **limits) as gateway:
        url = f"{gateway.url}/e/{KEY}"
        _problem(httpx.post(f"{gateway.url}/e/wrong", json=event), 401, "event_key_invalid")
        _problem(httpx.post(url, content=b'{"name": "app/x", '), 400, "request_malformed")
        _problem(httpx.post(url, content=b'"app/x"'), 400, "request_malformed")
        _problem(httpx.post(url, json=[event] * 4), 413, "payload_too_large")
        big = {"name": "app/x", "data": {"s": "x" * 5000}}
        _problem(httpx.post(url, json=big), 413, "payload_too_large")
        _problem(
            httpx.post(url, json=[event, {"name": "app/x", "ts": "now"}]), 422, "event_invalid"
        )
        _problem(httpx.get(url), 405, "method_not_allowed")
    _nothing_written(kafka_bootstrap, topic)


def test_a_chunked_body_is_refused_while_it_streams(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess
) -> None:
    topic = topics.create("gw-stream")
    sent: list[int] = []

    def body() -> Iterator[bytes]:
        yield b'{"name": "app/x", "data": {"s": "'
        for _ in range(64 * 1024):  # 64 MiB, if it were all read
            sent.append(1024)
            yield b"x" * 1024
        yield b'"}}'

    with _gateway(kafka_bootstrap, topic, registry, gateway_max_body_bytes=64 * 1024) as gateway:
        try:
            answer = httpx.post(f"{gateway.url}/e/{KEY}", content=body(), timeout=30)
        except httpx.HTTPError:
            answer = None  # the server may close the connection before the client reads
        if answer is not None:
            assert "content-length" not in answer.request.headers
            _problem(answer, 413, "payload_too_large")
    # The gateway stopped reading long before the end: it never buffered it all.
    assert sum(sent) < 16 * 1024 * 1024
    _nothing_written(kafka_bootstrap, topic)


def test_dev_mode_without_keys_accepts_any_key(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess
) -> None:
    topic = topics.create("gw-dev")
    with _gateway(kafka_bootstrap, topic, registry, dev=True, event_keys="") as gateway:
        answer = httpx.post(f"{gateway.url}/e/dev", json={"name": "app/dev-ping"})
    assert answer.status_code == 200, answer.text
    assert len(_decoded(kafka_bootstrap, topic, registry.url)) == 1


@pytest.mark.parametrize("array", [False, True], ids=["single", "array"])
def test_no_broker_is_503_with_retry_after(
    array: bool, topics: Topics, registry: RegistryProcess
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    event = {"name": "app/x", "data": {"a": 1}}
    with _gateway(
        nowhere, "nowhere", registry, gateway_delivery_timeout=1.0, gateway_retry_after=3
    ) as gateway:
        began = time.monotonic()
        answer = httpx.post(f"{gateway.url}/e/{KEY}", json=[event, event] if array else event)
        took = time.monotonic() - began
    body = _problem(answer, 503, "broker_unavailable")
    assert body["retryable"] is True
    assert answer.headers["retry-after"] == "3"
    assert took < 8


def test_no_registry_is_503_with_retry_after(kafka_bootstrap: str, topics: Topics) -> None:
    topic = topics.create("gw-noreg")
    dead = f"http://127.0.0.1:{free_port()}"
    with serve_gateway(gateway_settings(kafka_bootstrap, topic, dead)) as gateway:
        answer = httpx.post(f"{gateway.url}/e/{KEY}", json={"name": "app/x"})
    body = _problem(answer, 503, "registry_unavailable")
    assert answer.headers["retry-after"] == "5"
    assert body["retryable"] is True
    _nothing_written(kafka_bootstrap, topic)


def test_the_openapi_document_is_served(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess
) -> None:
    with _gateway(kafka_bootstrap, topics.create("gw-doc"), registry) as gateway:
        document = httpx.get(f"{gateway.url}/openapi.json").json()
    assert set(document["paths"]) >= {"/e/{event_key}", "/webhooks/{source}"}
    responses = document["paths"]["/e/{event_key}"]["post"]["responses"]
    assert PROBLEM in responses["503"]["content"]


def test_python_m_services_gateway_serves_events(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess
) -> None:
    topic = topics.create("gw-process")
    env = {
        "WEIR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WEIR_EVENTS_TOPIC": topic,
        "WEIR_REGISTRY_URL": registry.url,
        "WEIR_EVENT_KEYS": "k1,k2",
        "WEIR_GATEWAY_INSTANCE": unique("test"),
        # Outside dev mode the gateway verifies app registrations: it needs the key.
        "WEIR_SIGNING_KEY": "k" * 32,
        "WEIR_TOPIC_PREFIX": unique("gwp") + ".",
    }
    with GatewayProcess(env) as gateway:
        answer = httpx.post(f"{gateway.url}/e/k2", json={"name": "app/from-process"})
        assert answer.status_code == 200, answer.text
        _problem(
            httpx.post(f"{gateway.url}/e/k3", json={"name": "app/x"}), 401, "event_key_invalid"
        )
    assert gateway.process is not None
    # uvicorn shuts down cleanly on SIGTERM, then exits by that signal.
    assert gateway.process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in gateway.errors()
    [(_, value)] = _decoded(kafka_bootstrap, topic, registry.url)
    assert value["id"] == answer.json()["ids"][0]


def test_a_bad_setting_stops_the_gateway_with_config_invalid() -> None:
    gateway = GatewayProcess({"WEIR_WEBHOOKS": '{"github": {"name": "{oops"}}'})
    with pytest.raises(RuntimeError, match="config_invalid"):
        gateway.start(timeout=30)
    assert gateway.process is not None
    assert gateway.process.wait(timeout=10) == 2


def test_infer_policy_registers_then_refuses_an_incompatible_payload(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess
) -> None:
    topic = topics.create("gw-infer")
    name = f"app/inferred-{uuid.uuid4().hex[:8]}"
    with _gateway(kafka_bootstrap, topic, registry, schema_policy="infer") as gateway:
        url = f"{gateway.url}/e/{KEY}"
        first = httpx.post(url, json={"name": name, "data": {"plan": "pro", "seats": 3}})
        assert first.status_code == 200, first.text
        grown = httpx.post(url, json={"name": name, "data": {"plan": "pro", "coupon": "X"}})
        assert grown.status_code == 200, grown.text  # evolved: seats and coupon optional
        clash = {"name": name, "data": {"plan": {"tier": "pro"}}}
        body = _problem(httpx.post(url, json=[clash]), 409, "schema_incompatible")
        assert "plan" in body["detail"]
    versions = httpx.get(f"{registry.url}/subjects/{name.replace('/', '%2F')}/versions").json()
    assert versions == [1, 2]
    assert [v["data"] for _, v in _decoded(kafka_bootstrap, topic, registry.url)] == [
        {"plan": "pro", "seats": 3},  # read with the schema it was written with
        {"plan": "pro", "seats": None, "coupon": "X"},
    ]
