"""Serve a Weir app's functions from FastAPI (or any Starlette app) on one endpoint.

::

    app = FastAPI()
    weir.fastapi.serve(app, weir_client)            # every function defined on the client
    weir.fastapi.serve(app, weir_client, [fn1, fn2])  # or just these

mounts ``/api/weir`` (``path=`` to move it) for GET, POST and PUT (see
:mod:`weir.functions.endpoint` and docs/protocol.md), and registers the
functions with the gateway when the app starts, in the background, retrying
until the gateway answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from weir.functions.endpoint import DEFAULT_PATH, Endpoint
from weir.functions.function import Function
from weir.settings import Settings
from weir.signing import SIGNATURE_HEADER


class _Client(Protocol):
    """What ``serve`` needs of the Weir client."""

    app_id: str

    @property
    def functions(self) -> list[Function]: ...


def serve(
    app: Starlette,
    weir: _Client,
    functions: Sequence[Function] | None = None,
    *,
    path: str = DEFAULT_PATH,
    url: str | None = None,
    register: bool = True,
    settings: Settings | None = None,
) -> Endpoint:
    """Mount the endpoint on ``app`` and return it (tests and adapters may use it directly).

    ``url`` is where workers reach the endpoint (default: setting ``app_url``,
    else the request URL of a sync, else ``http://127.0.0.1:{app_port}{path}``);
    ``register=False`` skips registration at start-up. Settings are ``settings``,
    else the client's, else the process's; dev mode is the client's ``dev``, else
    the setting.
    """
    dev = getattr(weir, "dev", None)
    client_settings = getattr(weir, "settings", None)
    endpoint = Endpoint(
        app_id=weir.app_id,
        functions=list(weir.functions if functions is None else functions),
        settings=settings or (client_settings if isinstance(client_settings, Settings) else None),
        dev=dev if isinstance(dev, bool) else None,
        url=url,
        path=path,
        framework="fastapi" if type(app).__module__.startswith("fastapi") else "starlette",
    )

    async def route(request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:
            # The caller (a worker) went away mid-request; it will retry the task.
            return Response(status_code=499)
        method = request.method
        # The URL is only read by a sync (PUT); building it costs on every call.
        reply = await endpoint.handle(
            method,
            body=body,
            signature=request.headers.get(SIGNATURE_HEADER),
            query=dict(request.query_params) if request.scope.get("query_string") else {},
            request_url=str(request.url) if method == "PUT" else None,
        )
        return Response(reply.body, status_code=reply.status, headers=reply.headers)

    app.add_route(path, route, methods=["GET", "POST", "PUT"], include_in_schema=False)
    if register:
        _register_on_startup(app, endpoint)
    return endpoint


def _register_on_startup(app: Starlette, endpoint: Endpoint) -> None:
    """Wrap the app's lifespan: register in the background while the app serves."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(running: Any) -> AsyncIterator[Any]:
        async with inner(running) as state:
            stop = asyncio.Event()
            task = asyncio.create_task(
                endpoint.registrar.keep_registering(endpoint.registration, stop=stop)
            )
            try:
                yield state
            finally:
                stop.set()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = lifespan
