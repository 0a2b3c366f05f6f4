"""``POST /webhooks/{source}`` end to end: signed requests become events in Kafka.

GitHub- and Stripe-style signatures, checked over the raw body; every refusal
leaves the topic empty. Under the ``infer`` schema policy the first request of
a new event name registers a typed schema inferred from its JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from services.gateway.testing import GatewayThread, gateway_settings, serve_gateway
from services.registry.testing import RegistryProcess
from tests.support.kafka import Topics, read_to_end, unique

pytestmark = pytest.mark.kafka
PROBLEM = "application/problem+json"
GITHUB_SECRET = b"gh-secret"
STRIPE_SECRET = b"whsec_test"


@pytest.fixture(scope="module")
def registry(kafka_bootstrap: str) -> Iterator[RegistryProcess]:
    schemas = Topics(kafka_bootstrap)
    topic = unique("_schemas-wh")
    schemas.created.append(topic)
    with RegistryProcess(kafka_bootstrap, topic) as process:
        yield process
    schemas.delete_all()


@pytest.fixture
def tag() -> str:
    """Makes this test's event names its own within the module's registry."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def hooks(
    kafka_bootstrap: str, topics: Topics, registry: RegistryProcess, tag: str
) -> Iterator[tuple[GatewayThread, str]]:
    topic = topics.create("wh")
    mapping = {
        "github": {
            "name": f"github-{tag}/{{header:X-GitHub-Event}}",
            "id": "{header:X-GitHub-Delivery}",
            "secret": GITHUB_SECRET.decode(),
            "style": "github",
        },
        "stripe": {
            "name": f"stripe-{tag}/{{body:type}}",
            "id": "{body:id}",
            "secret": STRIPE_SECRET.decode(),
            "style": "stripe",
            "tolerance": 300,
        },
    }
    settings = gateway_settings(
        kafka_bootstrap, topic, registry.url, webhooks=json.dumps(mapping), schema_policy="infer"
    )
    with serve_gateway(settings) as gateway:
        yield gateway, topic


def _github_headers(body: bytes, secret: bytes = GITHUB_SECRET) -> dict[str, str]:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": f"delivery-{uuid.uuid4().hex[:8]}",
        "X-Hub-Signature-256": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def _stripe_headers(
    body: bytes, at: int | None = None, secret: bytes = STRIPE_SECRET
) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={digest}", "Content-Type": "application/json"}


def _refused(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["code"] == code


def _events(bootstrap: str, topic: str, registry_url: str) -> list[dict[str, Any]]:
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    context = SerializationContext(topic, MessageField.VALUE)
    out = []
    for message in read_to_end(bootstrap, topic, isolation="read_committed"):
        value = deserialize(message.value(), context)
        assert isinstance(value, dict)
        out.append(value)
    return out


PUSH = {"ref": "refs/heads/main", "commits": [{"id": "c1", "added": ["a.py"]}], "forced": False}


def test_a_github_push_becomes_a_typed_event(
    kafka_bootstrap: str, registry: RegistryProcess, hooks: tuple[GatewayThread, str], tag: str
) -> None:
    gateway, topic = hooks
    body = json.dumps(PUSH).encode()
    headers = _github_headers(body)
    answer = httpx.post(f"{gateway.url}/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ids": [headers["X-GitHub-Delivery"]]}
    [event] = _events(kafka_bootstrap, topic, registry.url)
    assert event["name"] == f"github-{tag}/push"
    assert event["id"] == headers["X-GitHub-Delivery"]
    assert event["data"] == PUSH
    # The first request registered a schema inferred from the JSON: typed fields.
    latest = httpx.get(f"{registry.url}/subjects/github-{tag}%2Fpush/versions/latest").json()
    schema = json.loads(latest["schema"])
    assert schema["weir.inferred"] is True
    data = next(f["type"] for f in schema["fields"] if f["name"] == "data")
    fields = {f["name"]: f["type"] for f in data["fields"]}
    assert fields["ref"] == "string"
    assert fields["forced"] == "boolean"
    assert fields["commits"]["type"] == "array"


def test_github_refusals_write_nothing(
    kafka_bootstrap: str, hooks: tuple[GatewayThread, str]
) -> None:
    gateway, topic = hooks
    url = f"{gateway.url}/webhooks/github"
    body = json.dumps(PUSH).encode()
    tampered = body.replace(b"main", b"evil")
    _refused(
        httpx.post(url, content=tampered, headers=_github_headers(body)),
        401,
        "webhook_signature_invalid",
    )
    wrong = _github_headers(body, secret=b"not-the-secret")
    _refused(httpx.post(url, content=body, headers=wrong), 401, "webhook_signature_invalid")
    missing = {k: v for k, v in _github_headers(body).items() if k != "X-Hub-Signature-256"}
    _refused(httpx.post(url, content=body, headers=missing), 401, "webhook_signature_invalid")
    unnamed = {k: v for k, v in _github_headers(body).items() if k != "X-GitHub-Event"}
    _refused(httpx.post(url, content=body, headers=unnamed), 422, "webhook_unmappable")
    _refused(
        httpx.post(f"{gateway.url}/webhooks/gitlab", content=body), 404, "webhook_source_unknown"
    )
    assert read_to_end(kafka_bootstrap, topic, isolation="read_uncommitted") == []


def test_a_stripe_event_becomes_an_event(
    kafka_bootstrap: str, registry: RegistryProcess, hooks: tuple[GatewayThread, str], tag: str
) -> None:
    gateway, topic = hooks
    payload = {"id": "evt_1", "type": "charge.succeeded", "data": {"object": {"amount": 1200}}}
    body = json.dumps(payload).encode()
    answer = httpx.post(
        f"{gateway.url}/webhooks/stripe", content=body, headers=_stripe_headers(body)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ids": ["evt_1"]}
    [event] = _events(kafka_bootstrap, topic, registry.url)
    assert (event["name"], event["id"], event["data"]) == (
        f"stripe-{tag}/charge.succeeded",
        "evt_1",
        payload,
    )


def test_stripe_refusals_write_nothing(
    kafka_bootstrap: str, hooks: tuple[GatewayThread, str]
) -> None:
    gateway, topic = hooks
    url = f"{gateway.url}/webhooks/stripe"
    body = json.dumps({"id": "evt_2", "type": "charge.failed"}).encode()
    stale = _stripe_headers(body, at=int(time.time()) - 301)
    _refused(httpx.post(url, content=body, headers=stale), 401, "webhook_signature_invalid")
    tampered = body.replace(b"failed", b"succeeded")
    _refused(
        httpx.post(url, content=tampered, headers=_stripe_headers(body)),
        401,
        "webhook_signature_invalid",
    )
    wrong = _stripe_headers(body, secret=b"whsec_other")
    _refused(httpx.post(url, content=body, headers=wrong), 401, "webhook_signature_invalid")
    _refused(httpx.post(url, content=body), 401, "webhook_signature_invalid")
    assert read_to_end(kafka_bootstrap, topic, isolation="read_uncommitted") == []
