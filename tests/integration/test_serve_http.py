"""A real FastAPI app under uvicorn, called over real HTTP with signed requests.

The test plays the worker: it POSTs signed calls, checks every answer's
signature, records step results and follows planned steps with targeted
calls until the run completes. A small real HTTP server stands in for the
gateway to receive the app's signed registration.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.ports import free_port
from tests.support.uvicorn_thread import ServerThread
from weir.fastapi import serve
from weir.functions import Context, Step
from weir.functions.mixin import FunctionsMixin
from weir.functions.protocol import (
    CallRequest,
    CompleteResponse,
    PlannedResponse,
    RunInfo,
    StepRecord,
    StepResponse,
    parse_call_response,
)
from weir.settings import Settings
from weir.signing import SIGNATURE_HEADER, Signer

KEY = "serve-test-key-" + "s" * 32
executions: Counter[str] = Counter()


class Order(BaseModel):
    order_id: str
    total_cents: int


class App(FunctionsMixin):
    """Stands in for weir.client.Weir (which mixes FunctionsMixin in)."""

    app_id = "serve-test"


client = App()


def load_order(order_id: str) -> Order:
    executions["load"] += 1
    return Order(order_id=order_id, total_cents=4200)


async def reserve(order: Order) -> str:
    executions["reserve"] += 1
    return f"reserved {order.order_id}"


async def bill(order: Order) -> int:
    executions["bill"] += 1
    return order.total_cents


@client.function(id="fulfil-order", trigger="serve/order.placed", retries=2)
async def fulfil(ctx: Context[Any], step: Step) -> dict[str, Any]:
    order = await step.run("load", load_order, ctx.event.data["order_id"])
    reserved, billed = await asyncio.gather(
        step.run("reserve", reserve, order), step.run("bill", bill, order)
    )
    return {"order": order.order_id, "reserved": reserved, "billed": billed}


class Gateway:
    """The gateway's registration route, verifying signatures like the real one will."""

    def __init__(self) -> None:
        self.registrations: list[dict[str, Any]] = []
        self.signer = Signer(KEY)
        self.app = Starlette(routes=[Route("/v1/apps/{app_id}", self.put, methods=["PUT"])])

    async def put(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.signer.verify(body, request.headers.get(SIGNATURE_HEADER))
        payload = json.loads(body)
        assert payload["app_id"] == request.path_params["app_id"]
        self.registrations.append(payload)
        return JSONResponse({"ok": True})

    def wait_for_registration(self, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.registrations:
            assert time.monotonic() < deadline, "the app did not register in time"
            time.sleep(0.05)
        return self.registrations[-1]


def app_with(gateway_url: str, app_port: int) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    settings = Settings(
        dev=False,
        signing_key=SecretStr(KEY),
        gateway_url=gateway_url,
        app_url=f"http://127.0.0.1:{app_port}/api/weir",
    )
    serve(app, client, settings=settings)
    return app


@pytest.fixture
def gateway() -> Iterator[tuple[Gateway, ServerThread]]:
    stub = Gateway()
    with ServerThread(stub.app) as server:
        yield stub, server


def signed_post(http: httpx.Client, url: str, request: CallRequest) -> httpx.Response:
    body = request.model_dump_json().encode()
    return http.post(
        url,
        content=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: Signer(KEY).sign(body)},
    )


def test_a_worker_drives_a_three_step_function_over_http(
    gateway: tuple[Gateway, ServerThread],
) -> None:
    stub, gateway_server = gateway
    executions.clear()
    port = free_port()
    with ServerThread(app_with(gateway_server.url, port), port) as app_server:
        registration = stub.wait_for_registration()
        assert registration["url"] == f"{app_server.url}/api/weir"
        assert [f["id"] for f in registration["functions"]] == ["fulfil-order"]
        assert registration["functions"][0]["triggers"] == [
            {"event": "serve/order.placed", "filter": None, "cron": None}
        ]

        endpoint = registration["url"]
        event = {"name": "serve/order.placed", "data": {"order_id": "o-1"}, "id": "ev-1", "ts": 1}
        steps: dict[str, StepRecord] = {}
        targets: list[str] = []
        outcomes: list[str] = []
        with httpx.Client(timeout=10) as http:
            for _ in range(10):
                request = CallRequest(
                    function_id="fulfil-order",
                    target_step=targets[0] if targets else None,
                    event=event,
                    run=RunInfo(id="run-http-1"),
                    steps=list(steps.values()),
                )
                response = signed_post(http, endpoint, request)
                Signer(KEY).verify(response.content, response.headers[SIGNATURE_HEADER])
                answer = parse_call_response(response.content)
                outcomes.append(answer.outcome)
                for done in answer.done:  # finished before the answer: recorded first
                    steps[done.id] = StepRecord(id=done.id, data=done.data)
                if isinstance(answer, CompleteResponse):
                    assert response.status_code == 200
                    break
                assert response.status_code == 206
                if isinstance(answer, StepResponse):
                    assert answer.step.error is None
                    steps[answer.step.id] = StepRecord(id=answer.step.id, data=answer.step.data)
                    if targets and targets[0] == answer.step.id:
                        targets.pop(0)
                else:
                    assert isinstance(answer, PlannedResponse)
                    targets.extend(op.id for op in answer.steps)

        # "load" is done in the first call, which goes on to the parallel pair.
        assert outcomes == ["planned", "step", "step", "complete"]
        assert answer.output == {"order": "o-1", "reserved": "reserved o-1", "billed": 4200}
        assert answer.warnings == []
        assert steps["load"].data == {"order_id": "o-1", "total_cents": 4200}
        assert executions == {"load": 1, "reserve": 1, "bill": 1}


def test_unsigned_and_tampered_calls_are_refused_over_http(
    gateway: tuple[Gateway, ServerThread],
) -> None:
    _, gateway_server = gateway
    executions.clear()
    port = free_port()
    with ServerThread(app_with(gateway_server.url, port), port) as app_server:
        endpoint = f"{app_server.url}/api/weir"
        request = CallRequest(
            function_id="fulfil-order",
            event={"name": "serve/order.placed", "data": {"order_id": "o-2"}},
            run=RunInfo(id="run-http-2"),
        )
        body = request.model_dump_json().encode()
        with httpx.Client(timeout=10) as http:
            unsigned = http.post(endpoint, content=body)
            tampered = http.post(
                endpoint,
                content=body.replace(b"o-2", b"o-3"),
                headers={SIGNATURE_HEADER: Signer(KEY).sign(body)},
            )
            described = http.get(endpoint)
            health = http.get(f"{app_server.url}/health")
        assert unsigned.status_code == 401
        assert unsigned.headers["content-type"] == "application/problem+json"
        assert unsigned.json()["code"] == "signature_missing"
        assert tampered.status_code == 401
        assert tampered.json()["code"] == "signature_invalid"
        assert executions == {}
        assert described.status_code == 200
        assert described.json()["functions"][0]["id"] == "fulfil-order"
        assert KEY not in described.text
        assert health.json() == {"status": "ok"}


def test_the_app_serves_while_the_gateway_is_absent_and_registers_once_it_appears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="weir.functions.registration")
    gateway_port, app_port = free_port(), free_port()
    stub = Gateway()
    with ServerThread(app_with(f"http://127.0.0.1:{gateway_port}", app_port), app_port) as app:
        with httpx.Client(timeout=10) as http:
            assert http.get(f"{app.url}/api/weir").status_code == 200
        time.sleep(0.3)  # at least one refused attempt
        assert stub.registrations == []
        assert "did not answer" in caplog.text
        assert "retrying in" in caplog.text
        with ServerThread(stub.app, gateway_port):
            registration = stub.wait_for_registration(timeout=15)
    assert registration["app_id"] == "serve-test"


def test_put_triggers_a_registration_now(gateway: tuple[Gateway, ServerThread]) -> None:
    stub, gateway_server = gateway
    port = free_port()
    with ServerThread(app_with(gateway_server.url, port), port) as app_server:
        stub.wait_for_registration()
        before = len(stub.registrations)
        with httpx.Client(timeout=10) as http:
            reply = http.put(
                f"{app_server.url}/api/weir", headers={SIGNATURE_HEADER: Signer(KEY).sign(b"")}
            )
        assert reply.status_code == 200
        assert reply.json()["registered"] is True
        assert len(stub.registrations) == before + 1
