"""Events to Weir's HTTP gateway: ``http(s)://host:port`` selects it.

``POST {url}/e/{event_key}`` with the JSON form of one event, or an array of
them; the gateway answers 200 ``{"ids": [...]}`` once Kafka has every event,
or problem+json whose ``code`` is one of the shared error codes, raised here
as the same :class:`~weir.errors.WeirError` subclass. The gateway checks the
data against the registry; typed events' schemas are registered by the SDK
first (through the catalog, when one is given), so the gateway writes them
with the class's own schema rather than inferring one from JSON.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from weir import errors
from weir.errors import ConfigError, GatewayUnavailableError, WeirError
from weir.events.catalog import SchemaCatalog
from weir.events.http_client import LoopLocalClient
from weir.events.model import Event
from weir.transports.base import Sendable

_PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "retryable"}


class HttpTransport:
    def __init__(
        self,
        url: str,
        *,
        event_key: str = "dev",
        timeout: float = 30.0,
        catalog: SchemaCatalog | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.path = f"/e/{quote(event_key, safe='')}"
        self.catalog = catalog
        headers = {"Content-Type": "application/json", "User-Agent": "weir-python"}
        self._http = LoopLocalClient(
            lambda: httpx.AsyncClient(base_url=self.url, timeout=timeout, headers=headers)
        )

    async def send(self, events: Sequence[Sendable], *, key: str | None = None) -> list[str]:
        if key is not None:
            raise ConfigError("a partition key is only supported by the kafka:// transport")
        if not events:
            return []
        body: list[dict[str, Any]] = []
        for event in events:
            if isinstance(event, Event) and self.catalog is not None:
                await self.catalog.for_model(type(event))
            body.append(event.to_json())
        payload = body[0] if len(body) == 1 else body
        try:
            response = await self._http.get().post(self.path, content=json.dumps(payload))
        except httpx.HTTPError as exc:
            raise GatewayUnavailableError(
                f"gateway at {self.url} did not answer: {exc!r}", detail={"gateway_url": self.url}
            ) from exc
        if response.status_code != 200:
            raise error_from_response(response)
        ids = _ids(response, len(events))
        return ids

    async def aclose(self) -> None:
        await self._http.aclose()


def _ids(response: httpx.Response, expected: int) -> list[str]:
    try:
        ids = response.json()["ids"]
    except (ValueError, KeyError, TypeError):
        ids = None
    if (
        not isinstance(ids, list)
        or len(ids) != expected
        or not all(isinstance(i, str) for i in ids)
    ):
        raise GatewayUnavailableError(
            f"gateway answered 200 without {expected} event ids: {response.text[:200]!r}"
        )
    return ids


def error_from_response(response: httpx.Response) -> WeirError:
    """The WeirError a problem+json answer stands for (same class as on the server)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    status = response.status_code
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        text = response.text[:300]
        if status >= 500:
            return GatewayUnavailableError(f"gateway answered {status}: {text}")
        return WeirError(f"gateway answered {status}: {text}", detail={"status": status})
    message = str(body.get("detail") or body.get("title") or body["code"])
    detail = {k: v for k, v in body.items() if k not in _PROBLEM_KEYS}
    cls = _classes_by_code().get(body["code"])
    if cls is None:
        detail.update(remote_code=body["code"], status=status)
        return (
            GatewayUnavailableError(message, detail=detail)
            if status >= 500
            else WeirError(message, detail=detail)
        )
    return _build(cls, message, detail, status)


def _classes_by_code() -> dict[str, type[WeirError]]:
    found: dict[str, type[WeirError]] = {}
    pending: list[type[WeirError]] = [errors.WeirError]
    while pending:
        cls = pending.pop(0)
        found.setdefault(str(cls.code), cls)  # the most general class of a code wins
        pending.extend(cls.__subclasses__())
    return found


def _build(cls: type[WeirError], message: str, detail: dict[str, Any], status: int) -> WeirError:
    params = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    if "path" in params:
        kwargs["path"] = str(detail.pop("path", ""))
    if "error_code" in params:
        code = detail.pop("error_code", None)
        kwargs["error_code"] = code if isinstance(code, int) else status
    try:
        return cls(message, detail=detail, **kwargs)
    except TypeError:
        return WeirError(message, detail={**detail, "status": status})
