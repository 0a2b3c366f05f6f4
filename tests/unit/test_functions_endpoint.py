"""The framework-free endpoint: signatures first, then the call; problems with stable codes."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from weir.errors import ConfigError, ErrorCode
from weir.functions import Context, Step
from weir.functions.checkpoint import EVERY_STEP
from weir.functions.endpoint import Endpoint, Reply
from weir.functions.function import Function, define_function
from weir.functions.protocol import CallRequest, RunInfo, parse_call_response
from weir.functions.registration import Registrar
from weir.settings import Settings
from weir.signing import Signer

KEY = "endpoint-key-" + "x" * 32
NOW = 1_800_000_000.0
invocations: list[str] = []


async def greet(ctx: Context[Any], step: Step) -> str:
    invocations.append(ctx.run_id)
    return str(await step.run("hello", lambda: "hi"))


# One step per call, so an answer is the step's (206) and the handler ran once per call.
GREET = define_function(
    id="greet", name=None, trigger="ep/hello", handler=greet, retries=1, checkpoint=EVERY_STEP
)


def settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"dev": False, "signing_key": SecretStr(KEY), "app_port": 8123}
    base.update(values)
    return Settings(**base)


def endpoint(functions: list[Function] | None = None, **values: Any) -> Endpoint:
    return Endpoint(
        app_id="ep-app",
        functions=functions if functions is not None else [GREET],
        settings=settings(**values),
        clock=lambda: NOW,
    )


def body(function_id: str = "greet", **extra: Any) -> bytes:
    request = CallRequest(
        function_id=function_id,
        event={"name": "ep/hello", "data": {}},
        run=RunInfo(id="run-ep"),
        **extra,
    )
    return request.model_dump_json().encode()


def sign(raw: bytes, key: str = KEY, now: float = NOW) -> str:
    return Signer(key, clock=lambda: now).sign(raw)


def handle(ep: Endpoint, method: str, raw: bytes, signature: str | None, **kw: Any) -> Reply:
    return asyncio.run(ep.handle(method, body=raw, signature=signature, **kw))


@pytest.fixture(autouse=True)
def _clear() -> None:
    invocations.clear()


def test_a_signed_call_runs_and_the_answer_is_signed() -> None:
    ep, raw = endpoint(), body()
    reply = handle(ep, "POST", raw, sign(raw))
    assert reply.status == 206
    answer = parse_call_response(reply.body)
    assert answer.outcome == "step"
    Signer(KEY, clock=lambda: NOW).verify(reply.body, reply.headers["X-Weir-Signature"])
    assert reply.headers["X-Weir-SDK"].startswith("weir-python/")
    assert invocations == ["run-ep"]


@pytest.mark.parametrize(
    ("make_signature", "code"),
    [
        (lambda raw: None, ErrorCode.SIGNATURE_MISSING),
        (lambda raw: sign(raw + b" "), ErrorCode.SIGNATURE_INVALID),
        (lambda raw: sign(raw, key="w" * 40), ErrorCode.SIGNATURE_INVALID),
        (lambda raw: sign(raw, now=NOW - 600), ErrorCode.SIGNATURE_EXPIRED),
        (lambda raw: sign(raw, now=NOW + 600), ErrorCode.SIGNATURE_EXPIRED),
        (lambda raw: "t=1,s=nothex", ErrorCode.SIGNATURE_INVALID),
    ],
    ids=["missing", "tampered", "wrong-key", "stale", "future", "malformed"],
)
def test_bad_signatures_never_invoke_the_handler(make_signature: Any, code: ErrorCode) -> None:
    ep, raw = endpoint(), body()
    reply = handle(ep, "POST", raw, make_signature(raw))
    assert reply.status == 401
    assert reply.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(reply.body)
    assert problem["code"] == code
    assert problem["status"] == 401
    assert invocations == []


def test_put_needs_a_signature_too() -> None:
    reply = handle(endpoint(), "PUT", b"", None)
    assert reply.status == 401


def test_the_fallback_key_is_accepted() -> None:
    old = "old-key-" + "o" * 32
    ep, raw = endpoint(signing_key_fallback=SecretStr(old)), body()
    assert handle(ep, "POST", raw, sign(raw, key=old)).status == 206


def test_dev_mode_accepts_unsigned_calls_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="weir.functions.endpoint"):
        ep = endpoint(dev=True, signing_key=None)
    assert "dev mode" in caplog.text
    raw = body()
    assert handle(ep, "POST", raw, None).status == 206
    assert invocations == ["run-ep"]


def test_no_signing_key_outside_dev_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        endpoint(signing_key=None)


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{}", b'{"function_id": "greet"}', b"[]", body()[:-5]],
)
def test_malformed_calls_are_400(raw: bytes) -> None:
    reply = handle(endpoint(), "POST", raw, sign(raw))
    assert reply.status == 400
    assert json.loads(reply.body)["code"] == ErrorCode.REQUEST_MALFORMED
    assert invocations == []


def test_an_unknown_function_is_404() -> None:
    raw = body("nope")
    reply = handle(endpoint(), "POST", raw, sign(raw))
    assert reply.status == 404
    assert json.loads(reply.body)["code"] == ErrorCode.FUNCTION_NOT_FOUND


def test_the_query_must_agree_with_the_body() -> None:
    raw = body()
    reply = handle(endpoint(), "POST", raw, sign(raw), query={"fn_id": "other"})
    assert reply.status == 400
    fine = handle(endpoint(), "POST", raw, sign(raw), query={"fn_id": "greet"})
    assert fine.status == 206


def test_get_describes_the_app_without_secrets() -> None:
    reply = handle(endpoint(), "GET", b"", None)
    assert reply.status == 200
    described = json.loads(reply.body)
    assert described["app_id"] == "ep-app"
    assert described["mode"] == "signed"
    assert described["signing_key"] is True
    assert [f["id"] for f in described["functions"]] == ["greet"]
    assert KEY not in reply.body.decode()


def test_other_methods_are_405() -> None:
    reply = handle(endpoint(), "DELETE", b"", None)
    assert reply.status == 405


def test_put_registers_with_the_gateway_signed() -> None:
    seen: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    ep = endpoint()
    ep.registrar = Registrar(
        gateway_url="http://gateway.test",
        app_id="ep-app",
        signer=ep.signer,
        transport=httpx.MockTransport(gateway),
    )
    reply = handle(ep, "PUT", b"", sign(b""), request_url="http://app.test/api/weir?x=1")
    assert reply.status == 200
    assert json.loads(reply.body)["url"] == "http://app.test/api/weir"
    sent = seen[0]
    assert (sent.method, str(sent.url)) == ("PUT", "http://gateway.test/v1/apps/ep-app")
    Signer(KEY, clock=lambda: NOW).verify(sent.content, sent.headers["X-Weir-Signature"])
    payload = json.loads(sent.content)
    assert payload["app_id"] == "ep-app"
    assert payload["url"] == "http://app.test/api/weir"
    assert payload["sdk"]["name"] == "weir-python"
    assert [f["id"] for f in payload["functions"]] == ["greet"]


def test_a_refused_registration_is_a_502_problem() -> None:
    ep = endpoint()
    ep.registrar = Registrar(
        gateway_url="http://gateway.test",
        app_id="ep-app",
        signer=ep.signer,
        transport=httpx.MockTransport(lambda request: httpx.Response(503)),
    )
    reply = handle(ep, "PUT", b"", sign(b""))
    assert reply.status == 502
    problem = json.loads(reply.body)
    assert problem["code"] == ErrorCode.REGISTRATION_FAILED
    assert problem["retryable"] is True


def test_the_app_url_setting_wins() -> None:
    ep = endpoint(app_url="https://shop.example/api/weir")
    assert ep.url_for("http://internal/api/weir") == "https://shop.example/api/weir"
    assert endpoint().url_for() == "http://127.0.0.1:8123/api/weir"
