"""The HTTP face of the registry: Confluent Schema Registry's REST API.

Request and response bodies, status codes and ``{"error_code", "message"}``
errors follow Confluent's, so its clients (and Weir's, which use them) work
unchanged. Every call into :class:`SchemaRegistry` runs in a worker thread:
reads are memory lookups, writes wait for Kafka.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from services.registry import errors
from services.registry.records import AVRO, Reference
from services.registry.registry import (
    SchemaRegistry,
    SchemaRequest,
    parse_version,
    schema_body,
)
from services.registry.routing import Params, Route, Router, path_segments
from services.registry.schemas import SUPPORTED_TYPES
from services.registry.state import RegistryState
from services.registry.store import KafkaLog
from weir.errors import RegistryError
from weir.settings import Settings, get_settings

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
ACCEPTED_BODY_TYPES = {
    "",
    MEDIA_TYPE,
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
}
T = TypeVar("T")


def create_app(settings: Settings | None = None) -> Starlette:
    """The registry as an ASGI app; it reads its Kafka topic to the end before serving."""
    settings = settings or get_settings()
    holder: dict[str, SchemaRegistry] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state = RegistryState()
        store = KafkaLog(
            settings.bootstrap_servers,
            settings.registry_topic,
            state,
            timeout=settings.registry_timeout,
        )
        await run_in_threadpool(store.start, max(60.0, settings.registry_timeout))
        holder["registry"] = SchemaRegistry(store, state, timeout=settings.registry_timeout)
        try:
            yield
        finally:
            await run_in_threadpool(store.close)

    def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Any:
        return run_in_threadpool(fn, *args, **kwargs)

    def registry() -> SchemaRegistry:
        return holder["registry"]

    router = Router(_routes(registry, call))

    async def dispatch(request: Request) -> Response:
        try:
            handler, params = router.match(request.method, path_segments(request.scope))
            return await handler(request, params)
        except RegistryError as exc:
            return JSONResponse(exc.to_confluent(), status_code=exc.status, media_type=MEDIA_TYPE)
        except Exception:
            log.exception("registry: unexpected error on %s %s", request.method, request.url.path)
            body = {"error_code": 500, "message": "Internal Server Error"}
            return JSONResponse(body, status_code=500, media_type=MEDIA_TYPE)

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    return Starlette(
        routes=[StarletteRoute("/{rest:path}", dispatch, methods=methods)], lifespan=lifespan
    )


# -- request and response helpers ------------------------------------------------------


def ok(body: Any) -> Response:
    return JSONResponse(body, media_type=MEDIA_TYPE)


def flag(request: Request, name: str) -> bool:
    """A boolean query parameter the way Confluent reads one: only "true" (any case) is true."""
    return request.query_params.get(name, "").strip().lower() == "true"


def page(request: Request, items: list[T]) -> list[T]:
    """Apply ``offset`` and ``limit`` (negative: no limit) to a list answer."""
    try:
        offset = max(0, int(request.query_params.get("offset", 0)))
        limit = int(request.query_params.get("limit", -1))
    except ValueError:
        raise errors.bad_request("offset and limit must be integers") from None
    return items[offset:] if limit < 0 else items[offset : offset + limit]


async def json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_BODY_TYPES:
        raise RegistryError("HTTP 415 Unsupported Media Type", error_code=415)
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise errors.bad_request(f"Request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise errors.bad_request("Request body must be a JSON object")
    return body


def schema_request(body: dict[str, Any]) -> SchemaRequest:
    schema = body.get("schema")
    if schema is None or (isinstance(schema, str) and not schema.strip()):
        raise errors.invalid_schema("Empty schema")
    if not isinstance(schema, str):
        raise errors.invalid_schema("Invalid schema: 'schema' must be the schema as a string")
    schema_type = body.get("schemaType") or AVRO
    if not isinstance(schema_type, str):
        raise errors.invalid_schema("Invalid schema: 'schemaType' must be a string")
    try:
        references = tuple(
            Reference(str(r["name"]), str(r["subject"]), int(r["version"]))
            for r in body.get("references") or ()
        )
    except (TypeError, KeyError, ValueError):
        raise errors.invalid_schema(
            "Invalid schema: each reference needs a name, a subject and a version"
        ) from None
    return SchemaRequest(
        schema=schema,
        schema_type=schema_type.upper(),
        references=references,
        schema_id=_optional_positive(body, "id"),
        version=_optional_positive(body, "version"),
    )


def _optional_positive(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None or value == -1 or value == 0:
        return None  # what Confluent's clients send for "not given"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        if name == "version":
            raise errors.invalid_version(str(value))
        raise errors.bad_request(f"'{name}' must be a positive integer")
    return value


def schema_id(params: Params) -> int:
    text = params["id"]
    if not text.isdigit() or int(text) < 1:
        raise errors.schema_not_found(text)
    return int(text)


# -- routes ---------------------------------------------------------------------------------


def _routes(registry: Callable[[], SchemaRegistry], call: Callable[..., Any]) -> list[Route]:
    async def root(_request: Request, _p: Params) -> Response:
        return ok({})

    async def schema_types(_request: Request, _p: Params) -> Response:
        return ok(list(SUPPORTED_TYPES))

    async def by_id(_request: Request, p: Params) -> Response:
        stored = await call(registry().schema_by_id, schema_id(p))
        return ok(schema_body(stored))

    async def by_id_text(_request: Request, p: Params) -> Response:
        stored = await call(registry().schema_by_id, schema_id(p))
        return Response(stored.schema, media_type=MEDIA_TYPE)

    async def id_subjects(request: Request, p: Params) -> Response:
        found = await call(registry().usages_of_id, schema_id(p), deleted=flag(request, "deleted"))
        wanted = request.query_params.get("subject")
        subjects = sorted({e.subject for e in found if not wanted or e.subject == wanted})
        return ok(page(request, subjects))

    async def id_versions(request: Request, p: Params) -> Response:
        found = await call(registry().usages_of_id, schema_id(p), deleted=flag(request, "deleted"))
        wanted = request.query_params.get("subject")
        pairs = [
            {"subject": e.subject, "version": e.version}
            for e in found
            if not wanted or e.subject == wanted
        ]
        return ok(page(request, pairs))

    async def list_subjects(request: Request, _p: Params) -> Response:
        found = await call(
            registry().subjects,
            deleted=flag(request, "deleted"),
            deleted_only=flag(request, "deleted_only"),
            prefix=request.query_params.get("subjectPrefix", ""),
        )
        return ok(page(request, found))

    async def list_versions(request: Request, p: Params) -> Response:
        found = await call(registry().versions, p["subject"], deleted=flag(request, "deleted"))
        return ok(page(request, found))

    async def register(request: Request, p: Params) -> Response:
        wanted = schema_request(await json_body(request))
        new_id, _version = await call(registry().register, p["subject"], wanted)
        return ok({"id": new_id})

    async def get_version(request: Request, p: Params) -> Response:
        number = parse_version(p["version"])
        body = await call(
            registry().version, p["subject"], number, deleted=flag(request, "deleted")
        )
        return ok(body)

    async def get_version_text(request: Request, p: Params) -> Response:
        number = parse_version(p["version"])
        body = await call(
            registry().version, p["subject"], number, deleted=flag(request, "deleted")
        )
        return Response(body["schema"], media_type=MEDIA_TYPE)

    async def referenced_by(_request: Request, p: Params) -> Response:
        number = parse_version(p["version"])
        return ok(await call(registry().referenced_by, p["subject"], number))

    async def delete_version(request: Request, p: Params) -> Response:
        number = parse_version(p["version"])
        permanent = flag(request, "permanent")
        return ok(await call(registry().delete_version, p["subject"], number, permanent=permanent))

    async def lookup(request: Request, p: Params) -> Response:
        wanted = schema_request(await json_body(request))
        deleted = flag(request, "deleted")
        return ok(await call(registry().lookup, p["subject"], wanted, deleted=deleted))

    async def delete_subject(request: Request, p: Params) -> Response:
        permanent = flag(request, "permanent")
        return ok(await call(registry().delete_subject, p["subject"], permanent=permanent))

    async def get_config(request: Request, p: Params) -> Response:
        default = flag(request, "defaultToGlobal")
        level = await call(registry().get_config, p.get("subject"), default_to_global=default)
        return ok({"compatibilityLevel": level})

    async def put_config(request: Request, p: Params) -> Response:
        body = await json_body(request)
        level = await call(registry().set_config, p.get("subject"), body.get("compatibility"))
        return ok({"compatibility": level})

    async def delete_config(_request: Request, p: Params) -> Response:
        return ok({"compatibilityLevel": await call(registry().delete_config, p.get("subject"))})

    async def compatibility(request: Request, p: Params) -> Response:
        number = parse_version(p["version"]) if "version" in p else None
        wanted = schema_request(await json_body(request))
        messages = await call(registry().test_compatibility, p["subject"], number, wanted)
        body: dict[str, Any] = {"is_compatible": not messages}
        if flag(request, "verbose"):
            body["messages"] = messages
        return ok(body)

    async def get_mode(request: Request, p: Params) -> Response:
        default = flag(request, "defaultToGlobal")
        return ok(
            {"mode": await call(registry().get_mode, p.get("subject"), default_to_global=default)}
        )

    async def put_mode(request: Request, p: Params) -> Response:
        body = await json_body(request)
        force = flag(request, "force")
        mode = await call(registry().set_mode, p.get("subject"), body.get("mode"), force=force)
        return ok({"mode": mode})

    async def delete_mode(_request: Request, p: Params) -> Response:
        return ok({"mode": await call(registry().delete_mode, p["subject"])})

    versions = "/subjects/{subject}/versions"
    return [
        Route("GET", "/", root),
        Route("GET", "/schemas/types", schema_types),
        Route("GET", "/schemas/ids/{id}", by_id),
        Route("GET", "/schemas/ids/{id}/schema", by_id_text),
        Route("GET", "/schemas/ids/{id}/subjects", id_subjects),
        Route("GET", "/schemas/ids/{id}/versions", id_versions),
        Route("GET", "/subjects", list_subjects),
        Route("GET", versions, list_versions),
        Route("POST", versions, register),
        Route("GET", versions + "/{version}", get_version),
        Route("DELETE", versions + "/{version}", delete_version),
        Route("GET", versions + "/{version}/schema", get_version_text),
        Route("GET", versions + "/{version}/referencedby", referenced_by),
        Route("POST", "/subjects/{subject}", lookup),
        Route("DELETE", "/subjects/{subject}", delete_subject),
        Route("GET", "/config", get_config),
        Route("PUT", "/config", put_config),
        Route("DELETE", "/config", delete_config),
        Route("GET", "/config/{subject}", get_config),
        Route("PUT", "/config/{subject}", put_config),
        Route("DELETE", "/config/{subject}", delete_config),
        Route("POST", "/compatibility" + versions, compatibility),
        Route("POST", "/compatibility" + versions + "/{version}", compatibility),
        Route("GET", "/mode", get_mode),
        Route("PUT", "/mode", put_mode),
        Route("GET", "/mode/{subject}", get_mode),
        Route("PUT", "/mode/{subject}", put_mode),
        Route("DELETE", "/mode/{subject}", delete_mode),
    ]
