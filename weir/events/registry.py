"""Client side of a Confluent-compatible schema registry (only what events need).

:class:`SchemaRegistry` is the interface the catalog uses; :class:`HttpSchemaRegistry`
speaks the Confluent REST API (Weir's own registry, Confluent's, Karapace,
Apicurio's compatibility API) and ``weir.testing.InMemoryRegistry`` keeps
everything in memory for tests. Errors come back as the shared taxonomy:
unreachable or 5xx -> ``registry_unavailable`` (retryable), 409 ->
``schema_incompatible``, 422 -> ``schema_invalid``, 404 -> ``registry_not_found``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from weir.errors import (
    RegistryError,
    RegistryNotFoundError,
    RegistryUnavailableError,
    SchemaIncompatibleError,
    SchemaInvalidError,
    WeirError,
)
from weir.events.http_client import LoopLocalClient

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    """One version of a subject: its global id, its version number and its text."""

    subject: str
    id: int
    version: int
    schema: str


class SchemaRegistry(Protocol):
    async def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` (Avro JSON) under ``subject``; its id (the same id again when
        it is already registered). Raises ``schema_incompatible`` / ``schema_invalid``."""
        ...

    async def latest(self, subject: str) -> RegisteredSchema | None:
        """The newest version under ``subject``; None when the subject has none."""
        ...

    async def schema_by_id(self, schema_id: int) -> str:
        """The text of schema ``schema_id``; ``registry_not_found`` when there is none."""
        ...

    async def aclose(self) -> None: ...


class HttpSchemaRegistry:
    """:class:`SchemaRegistry` over the Confluent REST API."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE}
        self._http = LoopLocalClient(
            lambda: httpx.AsyncClient(base_url=self.url, timeout=timeout, headers=headers)
        )

    async def register(self, subject: str, schema: str) -> int:
        body = await self._call(
            "POST", f"/subjects/{_path(subject)}/versions", {"schema": schema}, subject
        )
        return int(body["id"])

    async def latest(self, subject: str) -> RegisteredSchema | None:
        try:
            body = await self._call(
                "GET", f"/subjects/{_path(subject)}/versions/latest", None, subject
            )
        except RegistryNotFoundError:
            return None
        return RegisteredSchema(
            subject=subject,
            id=int(body["id"]),
            version=int(body["version"]),
            schema=str(body["schema"]),
        )

    async def schema_by_id(self, schema_id: int) -> str:
        body = await self._call("GET", f"/schemas/ids/{int(schema_id)}", None, None)
        return str(body["schema"])

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, payload: dict[str, Any] | None, subject: str | None
    ) -> dict[str, Any]:
        try:
            response = await self._http.get().request(
                method, path, content=None if payload is None else json.dumps(payload)
            )
        except httpx.HTTPError as exc:
            raise RegistryUnavailableError(
                f"schema registry at {self.url} did not answer: {exc!r}",
                detail={"registry_url": self.url},
            ) from exc
        if response.status_code >= 400:
            raise _error(response, subject, self.url)
        body = response.json()
        if not isinstance(body, dict):
            raise RegistryUnavailableError(f"schema registry at {self.url} answered {body!r}")
        return body


def _path(subject: str) -> str:
    return quote(subject, safe="")  # event names hold '/', which must not split the path


def _error(response: httpx.Response, subject: str | None, url: str) -> WeirError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    status = response.status_code
    raw_code = body.get("error_code")
    code: int = raw_code if isinstance(raw_code, int) else status
    message = str(body.get("message") or response.text[:300] or f"HTTP {status}")
    detail: dict[str, Any] = {"registry_error_code": code}
    if subject is not None:
        detail["subject"] = subject
    if status >= 500:
        return RegistryUnavailableError(
            f"schema registry at {url} answered {status}: {message}", detail=detail
        )
    if status == 409:
        return SchemaIncompatibleError(message, error_code=code, detail=detail)
    if status == 404:
        return RegistryNotFoundError(message, error_code=code, detail=detail)
    if status == 422 and code in (42201, 42202, 422):
        return SchemaInvalidError(message, error_code=code, detail=detail)
    return RegistryError(message, error_code=code, detail=detail)
