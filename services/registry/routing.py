"""Routing on the raw request path, so a subject may contain an encoded '/'.

Weir's subjects look like ``shop/cart.added``; clients send them
percent-encoded (``shop%2Fcart.added``). ASGI servers decode the path before
an app sees ``scope["path"]``, which would turn that one segment into two, so
this router splits ``scope["raw_path"]`` on '/' first and decodes each segment
afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import Response

from weir.errors import RegistryError

Params = dict[str, str]
Handler = Callable[[Request, Params], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # like "/subjects/{subject}/versions"
    handler: Handler

    @property
    def pattern(self) -> tuple[str, ...]:
        return tuple(part for part in self.path.split("/") if part)


def path_segments(scope: Mapping[str, Any]) -> list[str]:
    """The request path's segments, each percent-decoded on its own."""
    raw = scope.get("raw_path")
    text = raw.decode("latin-1") if raw else quote(str(scope.get("path", "")))
    return [unquote(part) for part in text.strip("/").split("/")] if text.strip("/") else []


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def match(self, method: str, segments: list[str]) -> tuple[Handler, Params]:
        """The handler for this request; a 404 or 405 RegistryError when there is none."""
        path_found = False
        for route in self.routes:
            params = _bind(route.pattern, segments)
            if params is None:
                continue
            path_found = True
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route.handler, params
        if path_found:
            raise RegistryError("HTTP 405 Method Not Allowed", error_code=405)
        raise RegistryError("HTTP 404 Not Found", error_code=404)


def _bind(pattern: tuple[str, ...], segments: list[str]) -> Params | None:
    if len(pattern) != len(segments):
        return None
    params: Params = {}
    for part, segment in zip(pattern, segments, strict=True):
        if part.startswith("{"):
            if not segment:
                return None
            params[part.strip("{}")] = segment
        elif part != segment:
            return None
    return params
