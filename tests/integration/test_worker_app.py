"""The app the worker tests call: real functions served by weir.fastapi under uvicorn.

No tests here: tests/integration/test_worker*.py import it. Every function
notes each call it receives (run id, attempt, monotonic time) in ``CALLS``,
so a test measures attempts and the gaps between them where they land. A few
plain routes stand in for what a broken deployment answers: a proxy's 500
page, an unsigned answer, a tampered one. :class:`ResetServer` is a raw
socket server that resets every connection it accepts.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import threading
import time
from collections import defaultdict
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from services.common.records import Task
from tests.support.uvicorn_thread import ServerThread
from weir.errors import NonRetriableError, RetryAfterError
from weir.fastapi import serve
from weir.functions import Context, Step
from weir.functions.checkpoint import EVERY_STEP
from weir.functions.mixin import FunctionsMixin
from weir.functions.protocol import CompleteResponse, StepRecord
from weir.settings import Settings
from weir.signing import SIGNATURE_HEADER, Signer

KEY = "worker-test-signing-key-" + "w" * 32
APP_ID = "wt"
CALLS: dict[str, list[tuple[float, int]]] = defaultdict(list)
HITS: dict[str, list[float]] = defaultdict(list)  # stand-in route -> times hit
RETRY_AFTER_SECONDS = 0.6


class App(FunctionsMixin):
    app_id = APP_ID


client = App()


def note(ctx: Context[Any]) -> None:
    CALLS[ctx.run_id].append((time.monotonic(), ctx.attempt))


def add(a: int, b: int) -> int:
    return a + b


# One step per call: these tests hand the worker one task per step.
@client.function(id="three-steps", trigger="wt/go", retries=2, checkpoint=EVERY_STEP)
async def three_steps(ctx: Context[Any], step: Step) -> dict[str, int]:
    note(ctx)
    a = await step.run("a", add, 1, 0)
    b = await step.run("b", add, a, 1)
    c = await step.run("c", add, b, 1)
    return {"a": a, "b": b, "c": c}


@client.function(id="raises", trigger="wt/go", retries=2)
async def raises(ctx: Context[Any], step: Step) -> None:
    note(ctx)
    raise RuntimeError("boom")


def refuse() -> None:
    raise NonRetriableError("card declined for good")


@client.function(id="non-retriable", trigger="wt/go", retries=3)
async def non_retriable(ctx: Context[Any], step: Step) -> None:
    note(ctx)
    await step.run("charge", refuse)


@client.function(id="retry-after", trigger="wt/go", retries=2, checkpoint=EVERY_STEP)
async def retry_after(ctx: Context[Any], step: Step) -> str:
    note(ctx)

    def later() -> str:
        if ctx.attempt == 0:
            raise RetryAfterError(RETRY_AFTER_SECONDS, "rate limited")
        return "ok"

    result: str = await step.run("limited", later)
    return result


RAN: dict[tuple[str, str], int] = defaultdict(int)  # (run id, step) -> executions


def ran(ctx: Context[Any], step_id: str) -> int:
    RAN[ctx.run_id, step_id] += 1
    return RAN[ctx.run_id, step_id]


def flaky(ctx: Context[Any]) -> str:
    if ran(ctx, "b") == 1:
        raise RuntimeError("the first attempt of b fails")
    return "ok"


@client.function(id="chained", trigger="wt/go", retries=2)
async def chained(ctx: Context[Any], step: Step) -> dict[str, Any]:
    """Default checkpoint: a's call goes on to b, which fails once."""
    note(ctx)
    a = await step.run("a", ran, ctx, "a")
    b = await step.run("b", flaky, ctx)
    return {"a": a, "b": b}


@client.function(id="sleeper", trigger="wt/go", retries=1)
async def sleeper(ctx: Context[Any], step: Step) -> str:
    note(ctx)
    await asyncio.sleep(float(ctx.event.data.get("sleep", 0)))
    return "awake"


@client.function(id="noop", trigger="wt/go", retries=0)
async def noop(ctx: Context[Any], step: Step) -> str:
    return "done"


class Concurrency:
    """How many calls of ``busy`` are running at once, and the most ever seen."""

    now = 0
    peak = 0


@client.function(id="busy", trigger="wt/go", retries=0)
async def busy(ctx: Context[Any], step: Step) -> str:
    Concurrency.now += 1
    Concurrency.peak = max(Concurrency.peak, Concurrency.now)
    try:
        await asyncio.sleep(0.3)  # long enough for a full set of calls to overlap
    finally:
        Concurrency.now -= 1
    return "done"


FUNCTIONS = [
    "three-steps",
    "raises",
    "non-retriable",
    "retry-after",
    "chained",
    "sleeper",
    "noop",
    "busy",
]


def build_app(settings: Settings) -> FastAPI:
    app = FastAPI()
    serve(app, client, settings=settings, register=False)
    signer = Signer(KEY)
    good = CompleteResponse(output="fine").model_dump_json().encode()

    @app.post("/proxy-500")
    async def proxy_500() -> Response:
        HITS["proxy-500"].append(time.monotonic())
        return Response(b"<html>upstream exploded</html>", status_code=500, media_type="text/html")

    @app.post("/unsigned")
    async def unsigned() -> Response:
        HITS["unsigned"].append(time.monotonic())
        return Response(good, media_type="application/json")

    @app.post("/tampered")
    async def tampered(request: Request) -> Response:
        HITS["tampered"].append(time.monotonic())
        body = good.replace(b"fine", b"evil")
        return Response(
            body, media_type="application/json", headers={SIGNATURE_HEADER: signer.sign(good)}
        )

    return app


def app_settings() -> Settings:
    return Settings(dev=False, signing_key=SecretStr(KEY))


class AppServer(ServerThread):
    """The test app, served on a free loopback port."""

    def __init__(self) -> None:
        super().__init__(build_app(app_settings()))

    @property
    def endpoint(self) -> str:
        return f"{self.url}/api/weir"


class ResetServer:
    """Accepts TCP connections and resets each at once (SO_LINGER 0), noting when."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/weir"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted.append(time.monotonic())
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def __enter__(self) -> ResetServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def make_task(
    function_id: str,
    run_id: str,
    url: str,
    *,
    retries: int | None = None,
    seq: int = 0,
    steps: list[StepRecord] | None = None,
    target_step: str | None = None,
    data: dict[str, Any] | None = None,
) -> Task:
    defaults = {"three-steps": 2, "raises": 2, "non-retriable": 3, "retry-after": 2}
    return Task(
        run_id=run_id,
        seq=seq,
        app_id=APP_ID,
        function_id=function_id,
        url=url,
        retries=defaults.get(function_id, 1) if retries is None else retries,
        target_step=target_step,
        event={"name": "wt/go", "id": f"ev-{run_id}", "ts": 1, "data": data or {}},
        steps=steps or [],
    )


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]
