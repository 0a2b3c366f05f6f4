"""How the worker reads what comes back from one call (docs/protocol.md §7.3).

HTTP is played by httpx's in-memory transport here; the real network path is
covered by tests/integration/test_worker.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from services.worker.calls import AppCaller, CallFailure, CallReport
from weir.functions.protocol import CallRequest, CompleteResponse, RunInfo
from weir.signing import SIGNATURE_HEADER, Signer

KEY = "unit-worker-key-" + "u" * 32
SIGNER = Signer(KEY)
REQUEST = CallRequest(
    function_id="fn", event={"name": "a/b", "data": {}}, run=RunInfo(id="r1", attempt=2)
)
COMPLETE = CompleteResponse(output=42).model_dump_json().encode()

Handler = Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]


def call(handler: Handler, *, verify: bool = True, timeout: float = 5.0) -> CallReport:
    async def go() -> CallReport:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            caller = AppCaller(client, SIGNER, verify=verify, timeout=timeout)
            return await caller.call("http://app.test/api/weir", REQUEST)

    return asyncio.run(go())


def signed(status: int, body: bytes, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, content=body, headers={SIGNATURE_HEADER: SIGNER.sign(body), **headers}
    )


def failure(report: CallReport) -> CallFailure:
    assert isinstance(report.result, CallFailure), report.result
    return report.result


def problem(code: str, status: int) -> bytes:
    return json.dumps({"code": code, "status": status, "detail": "why"}).encode()


def test_the_request_is_signed_and_a_signed_answer_is_accepted() -> None:
    seen: list[httpx.Request] = []

    async def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return signed(200, COMPLETE)

    report = call(app)
    assert report.result == CompleteResponse(output=42)
    assert report.status == 200
    [request] = seen
    SIGNER.verify(request.content, request.headers[SIGNATURE_HEADER])
    assert CallRequest.model_validate_json(request.content) == REQUEST


@pytest.mark.parametrize(("sign_other", "reason"), [(False, "missing"), (True, "does not match")])
def test_an_answer_that_does_not_verify_is_a_retryable_failure(
    sign_other: bool, reason: str
) -> None:
    # Signed here, not at collection: a signature made when the suite started
    # is stale by the time a long suite reaches this test.
    headers = {SIGNATURE_HEADER: SIGNER.sign(b"other")} if sign_other else {}

    async def app(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=COMPLETE, headers=headers)

    error = failure(call(app)).error
    assert (error.code, error.retryable) == ("app_signature_invalid", True)
    assert reason in error.message


def test_dev_mode_accepts_an_unsigned_answer() -> None:
    async def app(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=COMPLETE)

    assert call(app, verify=False).result == CompleteResponse(output=42)


def test_a_failed_answer_with_500_is_the_apps_answer_not_a_transport_failure() -> None:
    body = json.dumps(
        {"outcome": "failed", "error": {"name": "KeyError", "message": "x", "retryable": True}}
    ).encode()

    async def app(request: httpx.Request) -> httpx.Response:
        return signed(500, body)

    report = call(app)
    assert not isinstance(report.result, CallFailure)
    assert report.result.outcome == "failed"


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("request_malformed", 400, False),
        ("function_not_found", 404, True),
        ("signature_invalid", 401, True),
        ("internal", 500, True),
    ],
)
def test_the_apps_refusals_keep_their_code(code: str, status: int, retryable: bool) -> None:
    async def app(request: httpx.Request) -> httpx.Response:
        return signed(status, problem(code, status), **{"Content-Type": "application/problem+json"})

    error = failure(call(app)).error
    assert (error.code, error.retryable) == (code, retryable)
    assert f"{status} {code}: why" in error.message


def test_an_unverified_refusal_is_never_final() -> None:
    async def app(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=problem("request_malformed", 400))

    error = failure(call(app)).error
    assert (error.code, error.retryable) == ("request_malformed", True)
    assert "does not verify" in error.message


def test_a_proxy_page_is_a_bad_response_quoting_it() -> None:
    async def app(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            502, content=b"<h1>Bad Gateway</h1>", headers={"Content-Type": "text/html"}
        )

    error = failure(call(app)).error
    assert (error.code, error.retryable, error.retry_after) == ("app_bad_response", True, None)
    assert "502" in error.message
    assert "Bad Gateway" in error.message


def test_a_429_with_retry_after_asks_for_that_delay() -> None:
    async def app(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, content=b"slow down", headers={"Retry-After": "7"})

    error = failure(call(app)).error
    assert (error.code, error.retry_after) == ("app_bad_response", 7.0)


def test_a_redirect_is_not_followed() -> None:
    async def app(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"Location": "http://10.0.0.1/"})

    assert failure(call(app)).error.code == "app_bad_response"


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (httpx.ConnectError("connection refused"), "app_unreachable"),
        (httpx.RemoteProtocolError("peer closed connection"), "app_unreachable"),
        (httpx.ReadTimeout("read timed out"), "app_timeout"),
    ],
)
def test_network_errors_are_retryable_transport_failures(raised: Exception, code: str) -> None:
    async def app(request: httpx.Request) -> httpx.Response:
        raise raised

    error = failure(call(app)).error
    assert (error.code, error.retryable) == (code, True)


def test_the_call_timeout_bounds_the_whole_exchange() -> None:
    async def app(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return signed(200, COMPLETE)

    report = call(app, timeout=0.1)
    error = failure(report).error
    assert error.code == "app_timeout"
    assert "0.1s" in error.message
    assert report.seconds < 1
