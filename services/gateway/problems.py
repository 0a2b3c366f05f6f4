"""Every gateway error leaves as RFC 9457 problem+json with a stable ``code``.

The body is :meth:`weir.errors.WeirError.to_problem`; a 503 also carries
``Retry-After``. Errors FastAPI raises on its own (unknown route, wrong method)
are turned into the same shape, so a client parses one error format.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from weir.errors import ErrorCode, MethodNotAllowedError, RouteNotFoundError, WeirError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)


class Problem(BaseModel):
    """An error answer (RFC 9457). ``code`` is stable: match on it, not on ``detail``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://weir.dev/errors/event_invalid"])
    title: str = Field(examples=["event invalid"])
    status: int = Field(examples=[422])
    detail: str = Field(description="What went wrong, for a person.")
    code: str = Field(description="Stable error code.", examples=["event_invalid"])
    retryable: bool = Field(description="Whether the same request may succeed later.")
    path: str | None = Field(
        default=None,
        description="For event_invalid: the offending field from the body's root, "
        "e.g. `[3].data.items[0].price`.",
        examples=["[3].data.items[0].price"],
    )


def problem_response(error: WeirError, *, retry_after: int | None = None) -> Response:
    headers = {}
    if error.http_status == 503 and retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if error.http_status == 413:
        # The rest of the oversized body is still on its way: closing the
        # connection stops it, where keep-alive would read and drop it all.
        headers["Connection"] = "close"
    return Response(
        orjson.dumps(error.to_problem()),
        status_code=error.http_status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def install_problem_handlers(app: FastAPI, *, retry_after: int) -> None:
    async def weir_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WeirError)
        return problem_response(exc, retry_after=retry_after)

    async def http_error(_request: Request, exc: Exception) -> Response:
        # Starlette's own routing errors: no such path, or no such method on it.
        assert isinstance(exc, StarletteHTTPException)
        error: WeirError
        if exc.status_code == 405:
            error = MethodNotAllowedError(f"this endpoint does not take that method: {exc.detail}")
        elif exc.status_code == 404:
            error = RouteNotFoundError("no endpoint at this path; see /openapi.json")
        else:
            error = WeirError(str(exc.detail))
        return problem_response(error)

    async def unexpected(_request: Request, exc: Exception) -> Response:
        # Logged with its traceback here; the client learns only that it was ours.
        log.error("unexpected gateway error", exc_info=exc)
        error = WeirError("the gateway failed unexpectedly; the request was not accepted")
        return problem_response(error)

    app.add_exception_handler(WeirError, weir_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    meaning = {
        400: "The body is not JSON, or not an event object or array (`request_malformed`).",
        401: "Unknown event key (`event_key_invalid`) or bad webhook signature "
        "(`webhook_signature_invalid`).",
        404: "Unknown webhook source (`webhook_source_unknown`).",
        409: "schema_policy=infer: the data needs a schema change the registry refuses "
        "(`schema_incompatible`).",
        413: "Body, event count or record over the limit (`payload_too_large`).",
        422: "An event breaks its envelope or schema (`event_invalid`, with `path`), has no "
        "schema under schema_policy=strict (`event_schema_unknown`), or a webhook cannot be "
        "mapped to an event (`webhook_unmappable`).",
        503: f"Kafka or the schema registry is unavailable (`{ErrorCode.BROKER_UNAVAILABLE}`); "
        "nothing was written. Retry after `Retry-After` seconds.",
    }
    return {
        status: {
            "description": meaning[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
