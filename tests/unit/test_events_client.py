"""The Weir client over the in-memory transport and the HTTP transport (a local server)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import Field

from weir import Event, RawEvent, Weir
from weir.errors import (
    ConfigError,
    EventInvalidError,
    GatewayUnavailableError,
    SchemaIncompatibleError,
    WeirError,
)
from weir.testing import InMemoryRegistry, memory_weir


class CartAdded(Event, name="shop/cart.added"):
    cart_id: str
    user_id: str


class Paid(Event, name="shop/paid"):
    amount: Decimal = Field(max_digits=8, decimal_places=2)
    raw: bytes = b""


def test_send_typed_untyped_and_lists_returns_ids_in_order() -> None:
    async def main() -> None:
        weir = memory_weir()
        ev = CartAdded(data={"cart_id": "c1", "user_id": "u1"})
        assert await weir.send(ev) == [ev.id]
        [untyped] = await weir.send("app/user.created", data={"id": 123}, user={"ip": "x"})
        more = [CartAdded(data={"cart_id": "c2", "user_id": "u"}), {"name": "a/b", "data": {}}]
        ids = await weir.send(more)
        assert ids[0] == more[0].id  # type: ignore[union-attr]
        assert len(ids) == 2
        assert await weir.send([]) == []
        decoded = await weir.transport.decoded()
        assert [d.name for d in decoded] == [
            "shop/cart.added",
            "app/user.created",
            "shop/cart.added",
            "a/b",
        ]
        assert decoded[1].id == untyped
        assert decoded[1].data == {"id": 123}
        assert decoded[1].user == {"ip": "x"}
        [typed] = weir.transport.events(CartAdded)[:1]
        assert typed is ev
        await weir.aclose()

    asyncio.run(main())


def test_a_list_with_one_bad_event_sends_nothing() -> None:
    weir = memory_weir()
    batch = [
        CartAdded(data={"cart_id": "c1", "user_id": "u1"}),
        RawEvent.create("app/user.created", {"id": 1}),
        RawEvent.create("app/user.created", {"id": "not an id"}),
    ]
    with pytest.raises(SchemaIncompatibleError) as caught:
        weir.send_sync(batch)
    assert caught.value.detail["path"] == "[2].data.id"
    assert caught.value.message.startswith("[2] ")
    assert weir.transport.sent == []
    with pytest.raises(EventInvalidError) as invalid:
        weir.send_sync([{"name": "a/b", "data": {}}, {"name": "a/b", "data": [1]}])
    assert invalid.value.path == "[1].data"
    assert weir.transport.sent == []
    weir.close()


def test_strict_policy_through_the_client() -> None:
    weir = memory_weir(schema_policy="strict")
    with pytest.raises(WeirError) as caught:
        weir.send_sync("app/never.registered", data={"a": 1})
    assert caught.value.code == "event_schema_unknown"
    ids = weir.send_sync(CartAdded(data={"cart_id": "c", "user_id": "u"}))  # typed: registered
    assert len(ids) == 1
    assert weir.registry.subjects() == ["shop/cart.added"]
    weir.close()


def test_partition_key_replaces_the_id_as_record_key() -> None:
    weir = memory_weir()
    ev = CartAdded(data={"cart_id": "c", "user_id": "u"})
    weir.send_sync(ev)
    weir.send_sync("a/b", data={}, key="cart-c")
    assert [s.record.key for s in weir.transport.sent] == [ev.id.encode(), b"cart-c"]
    weir.close()


def test_decode_as_reads_typed_events_back() -> None:
    async def main() -> None:
        weir = memory_weir()
        ev = Paid(data={"amount": "12.5", "raw": b"\x00\x01"})
        await weir.send(ev)
        value = weir.transport.sent[0].record.value
        again = await weir.transport.encoder.decode_as(value, Paid)
        assert again == ev
        assert again.data.amount == Decimal("12.50")

    asyncio.run(main())


def test_arguments_that_do_not_fit_are_type_errors() -> None:
    weir = memory_weir()
    ev = CartAdded(data={"cart_id": "c", "user_id": "u"})
    with pytest.raises(TypeError):
        weir.send_sync(ev, {"a": 1})
    with pytest.raises(TypeError):
        weir.send_sync(42)  # type: ignore[arg-type]
    weir.close()


def test_transport_urls() -> None:
    with pytest.raises(ConfigError, match="event_transport"):
        Weir("app", transport="ftp://x")
    with pytest.raises(ConfigError):
        Weir("")
    weir = Weir("app", transport="memory://")
    assert isinstance(weir.registry, InMemoryRegistry)
    weir.close()


# -- the HTTP transport against a real local HTTP server ------------------------------


class FakeGateway:
    """Answers POST /e/{key} like the gateway would; records each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.answer: tuple[int, dict[str, Any] | None] | None = None
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.requests.append((self.path, body))
                status, payload = gateway.answer or (
                    200,
                    {"ids": [e["id"] for e in (body if isinstance(body, list) else [body])]},
                )
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                kind = "application/json" if status == 200 else "application/problem+json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    yield fake
    fake.close()


def test_http_transport_posts_json_and_returns_the_gateways_ids(gateway: FakeGateway) -> None:
    registry = InMemoryRegistry()
    weir = Weir("app", transport=gateway.url, registry=registry, event_key="k/ey")
    paid = Paid(data={"amount": "3.10", "raw": b"\xff"})
    assert weir.send_sync(paid) == [paid.id]
    path, body = gateway.requests[0]
    assert path == "/e/k%2Fey"
    assert body == {
        "name": "shop/paid",
        "data": {"amount": "3.10", "raw": "/w=="},
        "id": paid.id,
        "ts": paid.ts,
    }
    assert registry.subjects() == ["shop/paid"]  # the typed schema was registered first
    ids = weir.send_sync([{"name": "a/c", "data": {"x": 1}}] * 2)
    assert len(ids) == 2
    assert isinstance(gateway.requests[1][1], list)
    weir.close()


def test_http_transport_raises_the_problem_code_as_its_error_class(gateway: FakeGateway) -> None:
    weir = Weir("app", transport=gateway.url, registry=InMemoryRegistry())
    gateway.answer = (
        422,
        {
            "type": "https://weir.dev/errors/event_invalid",
            "title": "event invalid",
            "status": 422,
            "detail": "data.price: expected a number",
            "code": "event_invalid",
            "retryable": False,
            "path": "data.price",
            "errors": [{"path": "data.price", "message": "expected a number"}],
        },
    )
    with pytest.raises(EventInvalidError) as caught:
        weir.send_sync("a/b", data={"price": "x"})
    assert caught.value.path == "data.price"
    assert caught.value.detail["errors"][0]["path"] == "data.price"
    gateway.answer = (409, {"code": "schema_incompatible", "detail": "no", "error_code": 409})
    with pytest.raises(SchemaIncompatibleError):
        weir.send_sync("a/b", data={})
    gateway.answer = (503, None)
    with pytest.raises(GatewayUnavailableError) as down:
        weir.send_sync("a/b", data={})
    assert down.value.retryable
    weir.close()


def test_http_transport_to_nothing_is_gateway_unavailable() -> None:
    gateway = FakeGateway()
    url = gateway.url
    gateway.close()
    weir = Weir("app", transport=url, registry=InMemoryRegistry())
    with pytest.raises(GatewayUnavailableError):
        weir.send_sync("a/b", data={})
    weir.close()
