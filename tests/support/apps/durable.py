"""The app the end-to-end tests serve: real functions, every step execution logged.

Each real execution of a step appends ``<run id> <step id> <epoch ms>`` to the file named
by DURABLE_APP_LOG (O_APPEND writes of one short line are atomic), so a test
can count how often a step ran, across app restarts too.

    python -m tests.support.apps.durable   (port from WEIR_APP_PORT)
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

import weir.fastapi
from weir import (
    CancelOn,
    Checkpoint,
    Context,
    CronTick,
    NonRetriableError,
    RetryAfterError,
    Step,
    Timeouts,
    Weir,
)
from weir.errors import StepError
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
# The same with every step its own call (each recorded before the next starts).
client.create_function(
    "Three steps stepwise", "test/three-stepwise", three_steps, checkpoint=Checkpoint(max_steps=1)
)


async def fails_for_good(ctx: Context[Any], step: Step) -> None:
    def refuse() -> None:
        _ran(ctx, "refuse")
        raise NonRetriableError("no")

    await step.run("refuse", refuse)


client.create_function("Fails for good", "test/fail", fails_for_good)


async def retries_later(ctx: Context[Any], step: Step) -> dict[str, Any]:
    """Asks for a retry ``after`` seconds on its first attempt, then succeeds."""

    def call_out() -> str:
        _ran(ctx, f"call@{ctx.attempt}")
        if ctx.attempt == 0:
            raise RetryAfterError(float(ctx.event.data["after"]), "rate limited")
        return "ok"

    return {"out": await step.run("call", call_out)}


client.create_function("Retries later", "test/retry-later", retries_later)


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

# -- time and coordination (tests/integration/test_platform_time.py) ----------------


async def napper(ctx: Context[Any], step: Step) -> dict[str, Any]:
    await step.sleep("nap", float(ctx.event.data["seconds"]))
    woke = await step.run("woke", _stamp, ctx, "woke")
    return {"woke": woke}


client.create_function("Napper", "test/nap", napper)


def _stamp(ctx: Context[Any], step_id: str) -> int:
    _ran(ctx, step_id)
    return int(time.time() * 1000)


async def cart_watch(ctx: Context[Any], step: Step) -> dict[str, Any]:
    done = await step.wait_for_event(
        "checkout",
        event="test/checkout",
        match="data.cart_id",
        timeout=float(ctx.event.data.get("timeout", 60)),
    )
    if done is None:
        await step.run("remind", _ran, ctx, "remind")
        return {"checked_out": False}
    await step.run("thank", _ran, ctx, "thank")
    return {"checked_out": True, "by": done.id}


client.create_function("Cart watch", "test/cart", cart_watch)


async def racing_checkout(ctx: Context[Any], step: Step) -> dict[str, Any]:
    """Sends its own checkout while the call that reaches the wait is still running:
    accepted after the wait step started, before the router stored the wait."""
    cart_id = ctx.event.data["cart_id"]
    if ctx.attempt == 0:
        settings = get_settings()
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{settings.gateway_url}/e/test",
                json={"name": "test/checkout", "data": {"cart_id": cart_id}},
            )
            answer.raise_for_status()
    done = await step.wait_for_event(
        "checkout", event="test/checkout", match="data.cart_id", timeout=30
    )
    return {"checked_out": done is not None}


client.create_function("Racing checkout", "test/cart.race", racing_checkout)


async def next_number(ctx: Context[Any], step: Step) -> dict[str, Any]:
    """A wait with only an expression: the next number of this sequence, whoever sends it."""
    bumped = await step.wait_for_event(
        "next",
        event="test/number",
        if_="async.data.seq == event.data.seq && async.data.n == event.data.n + 1",
        timeout=30,
    )
    return {"next": None if bumped is None else bumped.data["n"]}


client.create_function("Next number", "test/number.first", next_number)


# Invoke: a parent runs a child and gets its output, or its failure, or its timeout.
@client.function(id="child", trigger="test/child.requested")
async def child(ctx: Context[Any], step: Step) -> dict[str, Any]:
    doubled = await step.run("double", lambda x: x * 2, ctx.event.data["x"])
    if ctx.event.data.get("nap"):
        await step.sleep("nap", float(ctx.event.data["nap"]))
    if ctx.event.data.get("fail"):
        raise NonRetriableError("the child refuses")
    return {"doubled": doubled}


@client.function(id="parent", trigger="test/parent")
async def parent(ctx: Context[Any], step: Step) -> dict[str, Any]:
    try:
        out = await step.invoke(
            "call-child",
            function=child,
            data=ctx.event.data["child"],
            timeout=ctx.event.data.get("timeout"),
        )
    except StepError as exc:
        return {"error": exc.detail["error_code"]}
    return {"child": out}


# cancel_on: a checkout-cancelled event stops the run between its steps.
@client.function(
    id="cancellable",
    trigger="test/long",
    cancel_on=[CancelOn(event="test/stop", match="data.id")],
)
async def cancellable(ctx: Context[Any], step: Step) -> None:
    await step.run("first", _ran, ctx, "first")
    await step.sleep("long", 30)
    await step.run("never", _ran, ctx, "never")


# Timeouts: a run that cannot finish in time, and one that cannot start in time.
@client.function(
    id="slowpoke", trigger="test/slow", timeouts=Timeouts(finish=timedelta(seconds=1.5))
)
async def slowpoke(ctx: Context[Any], step: Step) -> None:
    await step.sleep("long", 30)


@client.function(
    id="late-starter", trigger="test/late", timeouts=Timeouts(start=timedelta(seconds=1))
)
async def late_starter(ctx: Context[Any], step: Step) -> str:
    _ran(ctx, "started")
    return "started"


if os.environ.get("DURABLE_APP_CRON"):
    # Opt-in (tests/integration/test_platform_cron.py): a tick every few seconds.
    @client.function(id="ticker", cron=os.environ["DURABLE_APP_CRON"])
    async def ticker(ctx: Context[CronTick], step: Step) -> None:
        tick = int(ctx.event.data.tick.timestamp())
        await step.run("tick", _ran, ctx, f"tick@{tick}")


# -- for bench/durable_runs.py: a 3-step no-op that logs when calls and steps happen --

TIMING = os.environ.get("DURABLE_APP_TIMING", "")
# Block-buffered and flushed by a thread: a write per mark would cost the app a
# system call each, and the bench measures the app's CPU too.
_timing_file = open(TIMING, "a") if TIMING else None  # noqa: SIM115 - lives with the app


def _flush_marks() -> None:
    while _timing_file is not None:
        time.sleep(0.1)
        _timing_file.flush()


if _timing_file is not None:
    threading.Thread(target=_flush_marks, name="timing-flush", daemon=True).start()


def _mark(kind: str, key: str, detail: str = "") -> None:
    if _timing_file is not None:
        _timing_file.write(f"{kind} {key} {time.time():.6f} {detail}\n")


async def timed(ctx: Context[Any], step: Step) -> None:
    """call: the handler starts; step: a step's function runs; back: the handler has
    that step's result (in the same call, or replayed in a later one); end: done.
    Marked by event id: the bench knows the ids of the events it sends, and each
    event starts one run of this function."""
    key = ctx.event.id

    _mark("call", key)

    async def noop(name: str) -> str:
        _mark("step", key, name)
        return name

    for name in ("a", "b", "c"):
        await step.run(name, noop, name)
        _mark("back", key, name)
    _mark("end", key)


client.create_function("Timed", "bench/timed", timed)
# The same steps with every step its own call: each step's result goes through
# the platform (results topic, router, task topic, worker) before the next call.
client.create_function("Stepwise", "bench/stepwise", timed, checkpoint=Checkpoint(max_steps=1))


# bench/waits_timers.py seeds runs of these two straight into the router's state
# (their first call never happens), so the first call logged is the one after resume.
async def bench_wait(ctx: Context[Any], step: Step) -> None:
    _mark("call", ctx.run_id)
    await step.wait_for_event("paid", event="bench/paid", match="data.k", timeout=3600)


client.create_function("Bench wait", "bench/wait", bench_wait)


async def bench_nap(ctx: Context[Any], step: Step) -> None:
    _mark("call", ctx.run_id)
    await step.sleep("nap", 3600)


client.create_function("Bench nap", "bench/nap", bench_nap)

app = FastAPI()
weir.fastapi.serve(app, client)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=get_settings().app_port, log_level="warning")
