"""One HTTP call of the app: sign the request, POST it, verify and read the answer.

:meth:`AppCaller.call` never raises for anything the app or the network
does. It returns the app's verified answer, or a :class:`CallFailure` when
the call brought back no answer the protocol accepts (docs/protocol.md §7.3):
the connection failed, the call timed out, the answer is not signed by a key
we hold, or its body is not a call answer. Failures carry an
:class:`~weir.functions.protocol.ErrorInfo` with a stable code, so a failure
that exhausts its retries is reported like any other error.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx
from pydantic import ValidationError

from weir.errors import (
    AppBadResponseError,
    AppSignatureInvalidError,
    AppTimeoutError,
    AppUnreachableError,
    ErrorCode,
    SignatureError,
    WeirError,
)
from weir.functions.protocol import (
    CallRequest,
    CompleteResponse,
    ErrorInfo,
    FailedResponse,
    PlannedResponse,
    StepResponse,
    parse_call_response,
)
from weir.signing import SIGNATURE_HEADER, Signer

AppAnswer = CompleteResponse | StepResponse | PlannedResponse | FailedResponse

# How much of an unexpected body a failure quotes (enough to recognise a proxy's page).
QUOTE_CHARS = 200


@dataclass(frozen=True, slots=True)
class CallFailure:
    """A call that produced no verified answer; ``error`` says what happened."""

    error: ErrorInfo


@dataclass(frozen=True, slots=True)
class CallReport:
    """The result of one call and how long the HTTP exchange took."""

    result: AppAnswer | CallFailure
    seconds: float
    status: int | None = None


def error_info(exc: WeirError, *, retryable: bool | None = None) -> ErrorInfo:
    """The protocol's error object for one of Weir's own errors (no stack: not app code)."""
    return ErrorInfo(
        name=type(exc).__name__,
        message=exc.message,
        code=str(exc.code),
        retryable=exc.retryable if retryable is None else retryable,
    )


class HttpReply(Protocol):
    """What the caller reads of an answer (an ``httpx.Response`` or a ``Reply``)."""

    @property
    def status_code(self) -> int: ...
    @property
    def content(self) -> bytes: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


class Poster(Protocol):
    """What the caller needs of an HTTP client (``HttpPools``, or an ``httpx.AsyncClient``)."""

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> HttpReply: ...


class AppCaller:
    """Calls apps over a shared connection pool.

    Requests are signed when there is a ``signer``; answers are verified when
    ``verify`` is true (always outside dev mode, which requires a signer).
    """

    def __init__(
        self,
        client: Poster,
        signer: Signer | None,
        *,
        verify: bool,
        timeout: float,
    ) -> None:
        if verify and signer is None:
            raise ValueError("verifying answers needs a signer")
        self.client = client
        self.signer = signer
        self.verify = verify
        self.timeout = timeout

    async def call(self, url: str, request: CallRequest) -> CallReport:
        body = request.model_dump_json().encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.signer is not None:
            headers[SIGNATURE_HEADER] = self.signer.sign(body)
        started = time.perf_counter()
        try:
            # One deadline for the whole exchange: httpx's own timeouts apply per
            # read, so an app trickling bytes could otherwise hold a call forever.
            async with asyncio.timeout(self.timeout):
                reply = await self.client.post(url, content=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException, aiohttp.ServerTimeoutError):
            failure: WeirError = AppTimeoutError(f"the app did not answer within {self.timeout:g}s")
            return CallReport(CallFailure(error_info(failure)), time.perf_counter() - started)
        except (httpx.HTTPError, aiohttp.ClientError) as exc:
            reason = str(exc) or type(exc).__name__
            failure = AppUnreachableError(f"calling the app failed: {reason}")
            return CallReport(CallFailure(error_info(failure)), time.perf_counter() - started)
        seconds = time.perf_counter() - started
        return CallReport(self._read(reply), seconds, reply.status_code)

    def _read(self, reply: HttpReply) -> AppAnswer | CallFailure:
        status = reply.status_code
        forged = self._unverified(reply)
        try:
            answer = parse_call_response(reply.content)
        except ValidationError:
            answer = None
        if answer is not None:
            # Only a verified answer is acted on: anything else could be a forgery.
            if forged is not None:
                failure = AppSignatureInvalidError(
                    f"the app's answer ({status}) does not verify: {forged}"
                )
                return CallFailure(error_info(failure))
            return answer
        problem = _problem(reply, trusted=forged is None)
        if problem is not None:
            return CallFailure(problem)
        # Not an answer at all (a proxy's error page, a 429, a redirect): whoever sent
        # it, signed or not, the call is worth another attempt.
        bad = AppBadResponseError(
            f"the app answered {status} without a call answer: {_quote(reply)}",
            detail={"status": status},
        )
        info = error_info(bad).model_copy(update={"retry_after": _retry_after(reply)})
        return CallFailure(info)

    def _unverified(self, reply: HttpReply) -> str | None:
        """Why the answer's signature does not verify (None: it does, or dev mode)."""
        if not self.verify or self.signer is None:
            return None
        try:
            self.signer.verify(reply.content, reply.headers.get(SIGNATURE_HEADER))
        except SignatureError as exc:
            return exc.message
        return None


def _problem(reply: HttpReply, *, trusted: bool) -> ErrorInfo | None:
    """The app's own refusal (problem+json with a code), as the protocol says to treat it.

    Every refusal is retried with backoff (keys that differ, a function a
    rolling deploy has not brought yet, a bug of the app's endpoint) except a
    ``request_malformed`` that verifies: a request the app cannot read will not
    read better later. An unverified refusal is never final (it may be forged).
    """
    try:
        body = json.loads(reply.content)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return None
    code = body["code"]
    detail = body.get("detail")
    message = f"the app refused the call: {reply.status_code} {code}"
    if isinstance(detail, str) and detail:
        message += f": {detail}"
    if not trusted:
        message += " (this answer does not verify either: do the signing keys differ?)"
    return ErrorInfo(
        name="AppRefusedCall",
        message=message,
        code=code,
        retryable=not trusted or code != ErrorCode.REQUEST_MALFORMED,
        retry_after=_retry_after(reply),
    )


def _retry_after(reply: HttpReply) -> float | None:
    """Seconds of a ``Retry-After`` header (429 or 503 from the app or a proxy), if given."""
    value = reply.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _quote(reply: HttpReply) -> str:
    text = reply.content[:QUOTE_CHARS].decode("utf-8", "replace")
    kind = reply.headers.get("Content-Type", "no content type")
    return f"{kind}, {text!r}" if text else f"{kind}, empty body"
