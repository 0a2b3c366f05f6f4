"""The gateway's HTTP layer with a stand-in encoder and writer (no broker, no registry).

What is proven here: status codes, problem+json bodies, limits, the order of
checks, and that nothing reaches the writer when a request is refused. The
integration tests prove the same against the real broker and registry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import Gateway, create_app
from services.gateway.ingest import Ingest
from services.gateway.keys import EventKeys
from services.gateway.producer import KafkaRecord
from services.gateway.timing import Stopwatch
from services.gateway.webhooks.sources import WebhookSources
from weir.errors import BrokerUnavailableError, EventInvalidError
from weir.events.raw import RawEvent

PROBLEM = "application/problem+json"


class CheckingEncoder:
    """Refuses any ``data`` holding a ``bad`` field, like a schema would."""

    async def encode(
        self, events: Sequence[RawEvent], watch: Stopwatch, *, is_array: bool
    ) -> list[KafkaRecord]:
        for index, event in enumerate(events):
            if "bad" in event.data:
                path = f"[{index}].data.bad" if is_array else "data.bad"
                raise EventInvalidError(f"{path}: not allowed", path=path)
        watch.lap("validate")
        records = [KafkaRecord(json.dumps([e.name, e.id, e.data]).encode()) for e in events]
        watch.lap("encode")
        return records

    async def close(self) -> None:
        pass


class MemoryWriter:
    def __init__(self) -> None:
        self.batches: list[list[KafkaRecord]] = []
        self.fail = False
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def write(self, records: Sequence[KafkaRecord]) -> None:
        if self.fail:
            raise BrokerUnavailableError("Kafka did not acknowledge: timed out")
        self.batches.append(list(records))

    async def close(self) -> None:
        self.closed = True


WEBHOOKS = json.dumps(
    {
        "gh": {"name": "github/{header:X-GitHub-Event}", "secret": "s3", "style": "github"},
        "plain": {"name": "plain/{body:kind}", "id": "{body:id}"},
    }
)


@pytest.fixture
def writer() -> MemoryWriter:
    return MemoryWriter()


@pytest.fixture
def client(writer: MemoryWriter) -> Iterator[TestClient]:
    gateway = Gateway(
        ingest=Ingest(CheckingEncoder(), writer),
        keys=EventKeys.parse("k1", dev=False),
        webhooks=WebhookSources.parse(WEBHOOKS, tolerance=300),
        max_body_bytes=2048,
        max_events=5,
        retry_after=7,
    )
    with TestClient(create_app(gateway)) as test_client:
        yield test_client
    assert writer.started
    assert writer.closed


def _problem(response: Any, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    return dict(body)


def test_one_event_is_written_and_its_id_returned(client: TestClient, writer: MemoryWriter) -> None:
    answer = client.post("/e/k1", json={"name": "app/a", "id": "e1", "data": {"x": 1}})
    assert answer.status_code == 200
    assert answer.json() == {"ids": ["e1"]}
    assert [json.loads(r.value) for r in writer.batches[0]] == [["app/a", "e1", {"x": 1}]]
    timing = answer.headers["server-timing"]
    for stage in ("read", "parse", "validate", "encode", "produce"):
        assert f"{stage};dur=" in timing


def test_an_array_is_written_as_one_batch(client: TestClient, writer: MemoryWriter) -> None:
    answer = client.post("/e/k1", json=[{"name": "app/a"}, {"name": "app/b"}, {"name": "app/c"}])
    assert answer.status_code == 200
    ids = answer.json()["ids"]
    assert len(ids) == 3
    assert [json.loads(r.value)[1] for r in writer.batches[0]] == ids
    assert len(writer.batches) == 1


def test_an_unknown_key_is_refused(client: TestClient, writer: MemoryWriter) -> None:
    _problem(client.post("/e/nope", json={"name": "app/a"}), 401, "event_key_invalid")
    assert writer.batches == []


def test_malformed_json_is_400(client: TestClient, writer: MemoryWriter) -> None:
    body = _problem(client.post("/e/k1", content=b'{"name": '), 400, "request_malformed")
    assert "not valid JSON" in str(body["detail"])
    assert writer.batches == []


def test_a_declared_length_over_the_limit_is_413(client: TestClient, writer: MemoryWriter) -> None:
    big = json.dumps({"name": "app/a", "data": {"s": "x" * 3000}})
    _problem(client.post("/e/k1", content=big), 413, "payload_too_large")
    assert writer.batches == []


def test_a_streamed_body_is_cut_off_at_the_limit(client: TestClient, writer: MemoryWriter) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "app/a", "data": {"s": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}}'

    answer = client.post("/e/k1", content=chunks())
    assert "content-length" not in answer.request.headers
    _problem(answer, 413, "payload_too_large")
    assert writer.batches == []


def test_too_many_events_is_413(client: TestClient, writer: MemoryWriter) -> None:
    body = _problem(client.post("/e/k1", json=[{"name": "app/a"}] * 6), 413, "payload_too_large")
    assert body["limit"] == 5
    assert writer.batches == []


def test_one_bad_event_refuses_the_whole_array(client: TestClient, writer: MemoryWriter) -> None:
    events = [{"name": "app/a"}] * 3 + [{"name": "app/a", "data": {"bad": 1}}]
    body = _problem(client.post("/e/k1", json=events), 422, "event_invalid")
    assert body["path"] == "[3].data.bad"
    assert writer.batches == []


def test_an_envelope_error_names_the_field(client: TestClient, writer: MemoryWriter) -> None:
    body = _problem(
        client.post("/e/k1", json=[{"name": "app/a"}, {"name": "app/a", "ts": "now"}]),
        422,
        "event_invalid",
    )
    assert body["path"] == "[1].ts"
    assert writer.batches == []


def test_broker_unavailable_is_503_with_retry_after(
    client: TestClient, writer: MemoryWriter
) -> None:
    writer.fail = True
    answer = client.post("/e/k1", json={"name": "app/a"})
    body = _problem(answer, 503, "broker_unavailable")
    assert body["retryable"] is True
    assert answer.headers["retry-after"] == "7"


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    _problem(client.get("/nowhere"), 404, "route_not_found")
    _problem(client.get("/e/k1"), 405, "method_not_allowed")


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_openapi_describes_the_endpoints_and_problems(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    ingest = document["paths"]["/e/{event_key}"]["post"]
    assert set(ingest["responses"]) >= {"200", "400", "401", "413", "422", "503"}
    assert ingest["responses"]["422"]["content"][PROBLEM]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    body = ingest["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][1]["maxItems"] == 5
    webhook = document["paths"]["/webhooks/{source}"]["post"]
    assert set(webhook["responses"]) >= {"200", "401", "404", "422"}
    schemas = document["components"]["schemas"]
    assert {"Event", "Problem", "Accepted"} <= set(schemas)
    assert "code" in schemas["Problem"]["required"]


def _github(body: bytes, secret: bytes = b"s3") -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def test_a_signed_webhook_becomes_an_event(client: TestClient, writer: MemoryWriter) -> None:
    body = b'{"action": "opened"}'
    answer = client.post(
        "/webhooks/gh",
        content=body,
        headers={"X-GitHub-Event": "issues", "X-Hub-Signature-256": _github(body)},
    )
    assert answer.status_code == 200, answer.text
    [record] = writer.batches[0]
    name, event_id, data = json.loads(record.value)
    assert (name, data, [event_id]) == ("github/issues", {"action": "opened"}, answer.json()["ids"])


def test_webhook_refusals(client: TestClient, writer: MemoryWriter) -> None:
    body = b'{"action": "opened"}'
    signed = {"X-GitHub-Event": "issues", "X-Hub-Signature-256": _github(body)}
    _problem(client.post("/webhooks/gitlab", content=body), 404, "webhook_source_unknown")
    _problem(
        client.post("/webhooks/gh", content=body + b" ", headers=signed),
        401,
        "webhook_signature_invalid",
    )
    _problem(
        client.post("/webhooks/gh", content=body, headers={"X-GitHub-Event": "issues"}),
        401,
        "webhook_signature_invalid",
    )
    unmapped = {"X-Hub-Signature-256": _github(body)}
    _problem(client.post("/webhooks/gh", content=body, headers=unmapped), 422, "webhook_unmappable")
    _problem(client.post("/webhooks/plain", content=b"[1]"), 400, "request_malformed")
    _problem(client.post("/webhooks/plain", content=b"{"), 400, "request_malformed")
    _problem(client.post("/webhooks/plain", json={"kind": "a b"}), 422, "webhook_unmappable")
    assert writer.batches == []


def test_webhook_id_template_gives_the_event_id(client: TestClient, writer: MemoryWriter) -> None:
    answer = client.post("/webhooks/plain", json={"kind": "paid", "id": "evt_1"})
    assert answer.json() == {"ids": ["evt_1"]}
    assert json.loads(writer.batches[0][0].value)[:2] == ["plain/paid", "evt_1"]
