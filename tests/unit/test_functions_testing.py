"""The in-memory executor users test their functions with: the replay loop, to the end."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from weir.errors import NonRetriableError, RetryAfterError, StepError
from weir.events.model import Event
from weir.functions import Context, FunctionFailed, Step, SyncStep
from weir.functions.function import Function, define_function
from weir.functions.protocol import StepRecord
from weir.functions.retry import BASE_SECONDS, JITTER, retry_delay
from weir.functions.testing import RunLoopError, arun_function, run_function


class SignedUp(Event, name="testing/user.signed_up"):
    user_id: str


class WelcomeSent(Event, name="testing/email.welcome"):
    user_id: str


def define(handler: Any, *, retries: int = 4, on_failure: Any = None) -> Function:
    return define_function(
        id="testing-fn",
        name=None,
        trigger=SignedUp,
        handler=handler,
        retries=retries,
        on_failure=on_failure,
    )


SIGNUP = SignedUp(data={"user_id": "u1"})


def test_a_three_step_function_completes_with_each_step_executed_once() -> None:
    async def handler(ctx: Context[SignedUp], step: Step) -> str:
        profile = await step.run("profile", lambda: {"name": "Ada"})
        await step.sleep("wait-a-bit", 60)
        ids = await step.send_event(
            "welcome", WelcomeSent(data={"user_id": ctx.event.data.user_id})
        )
        return f"{profile['name']}:{len(ids)}"

    result = run_function(define(handler), SIGNUP)
    assert result.status == "completed"
    assert result.output == "Ada:1"
    assert list(result.steps) == ["profile", "wait-a-bit", "welcome"]
    assert result.executions == {"profile": 1}
    assert [e["name"] for e in result.sent_events] == ["testing/email.welcome"]
    assert result.sent_events[0]["data"] == {"user_id": "u1"}
    assert [op.opts for op in result.sleeps] == [{"seconds": 60.0}]


def test_parallel_steps_each_run_once_with_a_target() -> None:
    async def handler(ctx: Context[Any], step: Step) -> int:
        values = await asyncio.gather(
            *(step.run(f"part-{i}", lambda i=i: i * 10) for i in range(4))
        )
        return sum(values)

    result = run_function(define(handler), SIGNUP)
    assert result.output == 60
    assert result.executions == {f"part-{i}": 1 for i in range(4)}
    assert result.calls == 1 + 4 + 1  # plan, one call per step, complete


def test_flaky_steps_are_retried_with_growing_delays() -> None:
    attempts: list[int] = []

    async def handler(ctx: Context[Any], step: Step) -> str:
        def flaky() -> str:
            attempts.append(ctx.attempt)
            if len(attempts) < 4:
                raise ConnectionError("try again")
            return "ok"

        return await step.run("flaky", flaky)

    result = run_function(define(handler), SIGNUP)
    assert result.status == "completed"
    assert attempts == [0, 1, 2, 3]
    assert len(result.retry_delays) == 3
    for n, delay in enumerate(result.retry_delays, start=1):
        nominal = BASE_SECONDS * 2 ** (n - 1)
        assert nominal * (1 - JITTER) <= delay <= nominal * (1 + JITTER)


def test_retries_run_out_then_the_step_error_is_catchable() -> None:
    async def handler(ctx: Context[Any], step: Step) -> str:
        try:
            await step.run("always-fails", lambda: 1 / 0)
        except StepError as exc:
            return f"handled {exc.error_name}"
        return "unreachable"

    result = run_function(define(handler, retries=2), SIGNUP)
    assert result.status == "completed"
    assert result.output == "handled ZeroDivisionError"
    assert result.executions["always-fails"] == 3  # first attempt + 2 retries
    assert result.steps["always-fails"].error is not None


def test_non_retriable_errors_are_not_retried_and_fail_the_run() -> None:
    failures: list[FunctionFailed] = []

    async def on_failure(ctx: Context[FunctionFailed], step: Step) -> None:
        failures.append(ctx.event)

    def refuse() -> None:
        raise NonRetriableError("bad card")

    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("charge", refuse)

    result = run_function(define(handler, on_failure=on_failure), SIGNUP)
    assert result.status == "failed"
    assert result.executions["charge"] == 1
    assert result.error is not None
    assert result.error.name == "StepError"
    assert result.failure is not None
    assert result.failure.status == "completed"
    failed = failures[0]
    assert isinstance(failed, FunctionFailed)
    assert failed.data.function_id == "testing-fn"
    assert failed.data.error.name == "StepError"
    assert failed.data.event["data"] == {"user_id": "u1"}


def test_retry_after_replaces_the_schedule() -> None:
    async def handler(ctx: Context[Any], step: Step) -> str:
        def limited() -> str:
            if ctx.attempt == 0:
                raise RetryAfterError(120)
            return "ok"

        return await step.run("limited", limited)

    result = run_function(define(handler), SIGNUP)
    assert result.status == "completed"
    assert len(result.retry_delays) == 1
    assert 115 <= result.retry_delays[0] <= 120


def test_handler_errors_are_retried_then_fail() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        raise RuntimeError("broken")

    result = run_function(define(handler, retries=3), SIGNUP)
    assert result.status == "failed"
    assert result.calls == 4
    assert result.error is not None
    assert result.error.message == "broken"


def test_waits_are_answered_from_the_waits_mapping() -> None:
    async def handler(ctx: Context[Any], step: Step) -> list[Any]:
        got = await step.wait_for_event("confirm", event=WelcomeSent, timeout=60)
        missed = await step.wait_for_event("never", event="testing/other", timeout=1)
        return [got.data.user_id if got else None, missed]

    answer = WelcomeSent(data={"user_id": "u7"})
    result = run_function(define(handler), SIGNUP, waits={"confirm": answer})
    assert result.output == ["u7", None]


def test_pre_recorded_steps_are_not_run() -> None:
    ran: list[str] = []

    def handler(ctx: Context[Any], step: SyncStep) -> str:
        a = step.run("a", lambda: ran.append("a") or "fresh")
        return str(a)

    result = run_function(define(handler), SIGNUP, steps=[StepRecord(id="a", data="recorded")])
    assert result.output == "recorded"
    assert ran == []


def test_a_run_that_never_settles_is_reported() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        for i in range(500):  # with up to 20 steps per call: 25 calls
            await step.run(f"s{i}", lambda: None)

    with pytest.raises(RunLoopError):
        run_function(define(handler), SIGNUP, max_calls=10)


def test_arun_function_works_inside_a_loop() -> None:
    async def handler(ctx: Context[Any], step: Step) -> int:
        return int(await step.run("one", lambda: 1))

    async def main() -> Any:
        return await arun_function(define(handler), SIGNUP)

    assert asyncio.run(main()).output == 1


def test_retry_delay_schedule() -> None:
    assert retry_delay(0) == 0.0
    assert retry_delay(3, retry_after=5.0) == 5.0
    assert retry_delay(40) <= 3600 * (1 + JITTER)
