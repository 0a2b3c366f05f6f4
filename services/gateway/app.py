"""The gateway's HTTP app: event ingest, webhooks, health and the OpenAPI document."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.body import read_body
from services.gateway.envelope import json_type, parse_body, parse_json
from services.gateway.ingest import Ingest
from services.gateway.keys import EventKeys
from services.gateway.openapi import Accepted, events_body, install_openapi, webhook_body
from services.gateway.platform_api import PlatformApi, install_platform_api
from services.gateway.problems import install_problem_handlers, problem_responses
from services.gateway.timing import Stopwatch
from services.gateway.webhooks.sources import WebhookSources
from services.gateway.webhooks.template import RequestView
from weir import __version__
from weir.errors import EventInvalidError, RequestMalformedError, WebhookUnmappableError
from weir.events.raw import RawEvent

DESCRIPTION = """\
Send events to Weir over HTTP. `POST /e/{event_key}` takes one event or an
array; the answer comes once Kafka acknowledged every event (acks=all), and
an array is written whole or not at all. `POST /webhooks/{source}` turns a
third party's (optionally signed) JSON request into an event. Every error is
`application/problem+json` with a stable `code`. See docs/gateway.md.
"""


@dataclass
class Gateway:
    """Everything the routes need, built from settings by ``services.gateway.server``."""

    ingest: Ingest
    keys: EventKeys
    webhooks: WebhookSources
    max_body_bytes: int = 1024 * 1024
    max_events: int = 1000
    retry_after: int = 5
    clock: Callable[[], float] = field(default=time.time)
    # App registration and the run API; None serves event ingest only.
    platform: PlatformApi | None = None


def _accepted(ids: list[str], watch: Stopwatch) -> Response:
    return Response(
        orjson.dumps({"ids": ids}),
        media_type="application/json",
        headers={"Server-Timing": watch.server_timing()},
    )


def create_app(gateway: Gateway) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await gateway.ingest.start()
        if gateway.platform is not None:
            await gateway.platform.open()
        try:
            yield
        finally:
            if gateway.platform is not None:
                gateway.platform.close()
            await gateway.ingest.close()

    app = FastAPI(
        title="Weir gateway", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    install_problem_handlers(app, retry_after=gateway.retry_after)
    install_openapi(app)
    if gateway.platform is not None:
        install_platform_api(app, gateway.platform)

    @app.post(
        "/e/{event_key}",
        summary="Send one event or an array of events",
        response_class=Response,
        responses={
            200: {"model": Accepted, "description": "Every event acknowledged by Kafka."},
            **problem_responses(400, 401, 409, 413, 422, 503),
        },
        openapi_extra=events_body(gateway.max_events),
    )
    async def send_events(event_key: str, request: Request) -> Response:
        gateway.keys.check(event_key)
        watch = Stopwatch()
        raw = await read_body(request, gateway.max_body_bytes)
        watch.lap("read")
        body = parse_body(raw, max_events=gateway.max_events)
        watch.lap("parse")
        ids = await gateway.ingest.accept(body.events, watch, is_array=body.is_array)
        return _accepted(ids, watch)

    @app.post(
        "/webhooks/{source}",
        summary="Turn a third party's webhook into an event",
        response_class=Response,
        responses={
            200: {"model": Accepted, "description": "The event acknowledged by Kafka."},
            **problem_responses(400, 401, 404, 409, 413, 422, 503),
        },
        openapi_extra=webhook_body(),
    )
    async def receive_webhook(source: str, request: Request) -> Response:
        configured = gateway.webhooks.get(source)
        watch = Stopwatch()
        raw = await read_body(request, gateway.max_body_bytes)
        watch.lap("read")
        configured.verify(raw, request.headers, gateway.clock())
        document = parse_json(raw)
        if not isinstance(document, dict):
            raise RequestMalformedError(
                f"a webhook body must be a JSON object, not {json_type(document)}"
            )
        view = RequestView(source, request.headers, request.query_params, document)
        event = _webhook_event(
            configured.name.render(view),
            configured.id.render(view) if configured.id else None,
            document,
        )
        watch.lap("parse")
        return _accepted(await gateway.ingest.accept([event], watch), watch)

    @app.get("/health", summary="Liveness: the gateway answers HTTP")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _webhook_event(name: str, event_id: str | None, data: dict[str, Any]) -> RawEvent:
    """The event of a webhook; a mapped name or id that is not valid makes it unmappable."""
    try:
        return RawEvent.create(name, data, id=event_id)
    except EventInvalidError as exc:
        raise WebhookUnmappableError(
            f"the mapped event {exc.message}", detail={"field": exc.path}
        ) from None
