"""The app the end-to-end tests serve: real functions, every step execution logged.

Each real execution of a step appends ``<run id> <step id> <epoch ms>`` to the file named
by DURABLE_APP_LOG (O_APPEND writes of one short line are atomic), so a test
can count how often a step ran, across app restarts too.

    python -m tests.support.apps.durable   (port from WEIR_APP_PORT)
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

import weir.fastapi
from weir import Context, NonRetriableError, Step, Weir
from weir.settings import get_settings

LOG = os.environ.get("DURABLE_APP_LOG", "")
client = Weir(app_id=os.environ.get("DURABLE_APP_ID", "durable"))


def _ran(ctx: Context[Any], step_id: str) -> None:
    if LOG:
        with open(LOG, "a") as out:
            out.write(f"{ctx.run_id} {step_id} {int(time.time() * 1000)}\n")


async def three_steps(ctx: Context[Any], step: Step) -> dict[str, Any]:
    async def one(name: str) -> str:
        _ran(ctx, name)
        await asyncio.sleep(0)
        return name

    a = await step.run("a", one, "a")
    b = await step.run("b", one, "b")
    c = await step.run("c", one, "c")
    return {"n": ctx.event.data.get("n"), "steps": [a, b, c]}


client.create_function("Three steps", "test/three", three_steps)


async def fails_for_good(ctx: Context[Any], step: Step) -> None:
    def refuse() -> None:
        _ran(ctx, "refuse")
        raise NonRetriableError("no")

    await step.run("refuse", refuse)


client.create_function("Fails for good", "test/fail", fails_for_good)


async def on_failure(ctx: Context[Any], step: Step) -> dict[str, Any]:
    _ran(ctx, "failure-handler")
    return {"handled": ctx.event.data["run_id"]}


client.create_function("Failure watcher", "weir/function.failed", on_failure)


async def fan_out(ctx: Context[Any], step: Step) -> list[int]:
    async def square(x: int) -> int:
        _ran(ctx, f"sq{x}")
        return x * x

    results = await asyncio.gather(*(step.run(f"sq{x}", square, x) for x in range(3)))
    return list(results)


client.create_function("Fan out", "test/fan", fan_out)

# -- for bench/durable_runs.py: a 3-step no-op that logs when calls and steps happen --

TIMING = os.environ.get("DURABLE_APP_TIMING", "")
_timing_file = open(TIMING, "a", buffering=1) if TIMING else None  # noqa: SIM115 - lives with the app


def _mark(kind: str, run_id: str, detail: str = "") -> None:
    if _timing_file is not None:
        _timing_file.write(f"{kind} {run_id} {time.time():.6f} {detail}\n")


async def timed(ctx: Context[Any], step: Step) -> None:
    _mark("call", ctx.run_id)

    async def noop(name: str) -> str:
        _mark("step", ctx.run_id, name)
        return name

    for name in ("a", "b", "c"):
        await step.run(name, noop, name)


client.create_function("Timed", "bench/timed", timed)

app = FastAPI()
weir.fastapi.serve(app, client)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=get_settings().app_port, log_level="warning")
