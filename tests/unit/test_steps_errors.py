"""Errors, retries, the BaseException interrupt and the limits of a run, app side."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.calls import call_once
from weir.errors import (
    ErrorCode,
    NonRetriableError,
    RetryAfterError,
    StepError,
    WeirError,
)
from weir.functions import Context, Step, SyncStep
from weir.functions.checkpoint import EVERY_STEP
from weir.functions.execute import AnyResponse
from weir.functions.function import Function, define_function
from weir.functions.limits import Limits
from weir.functions.protocol import (
    CompleteResponse,
    ErrorInfo,
    FailedResponse,
    StepRecord,
    StepResponse,
)

EVENT = {"name": "test/errors", "data": {}, "id": "e1", "ts": 1}


def make(handler: Any) -> Function:
    return define_function(
        id="errors-fn",
        name=None,
        trigger="test/errors",
        handler=handler,
        retries=4,
        checkpoint=EVERY_STEP,  # one call's mechanics; checkpoints: test_steps_checkpoint.py
    )


def call(
    function: Function, steps: Sequence[StepRecord] = (), *, limits: Limits | None = None
) -> AnyResponse:
    return call_once(function, EVENT, steps, run_id="run-e", limits=limits)


def failed_record(step_id: str, message: str = "card declined") -> StepRecord:
    return StepRecord(
        id=step_id,
        error=ErrorInfo(name="ValueError", message=message, stack="Traceback...", retryable=False),
    )


def boom() -> None:
    raise ValueError("card declined")


def test_a_failing_step_reports_a_retryable_error_with_stack() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("charge", boom)

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    error = answer.step.error
    assert error is not None
    assert (error.name, error.message, error.retryable) == ("ValueError", "card declined", True)
    assert error.retry_after is None
    assert error.stack is not None
    assert "boom" in error.stack


def test_non_retriable_error_ends_the_step_at_once() -> None:
    def refuse() -> None:
        raise NonRetriableError("account closed")

    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("charge", refuse)

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    assert answer.step.error is not None
    assert answer.step.error.retryable is False
    assert answer.step.error.code == ErrorCode.NON_RETRIABLE


@pytest.mark.parametrize(
    "make_delay",
    [
        lambda: 30,
        lambda: timedelta(seconds=30),
        # Made when the test runs, not when it is collected (minutes earlier).
        lambda: datetime.now(UTC) + timedelta(seconds=30),
    ],
    ids=["seconds", "timedelta", "datetime"],
)
def test_retry_after_error_asks_for_a_time(make_delay: Callable[[], Any]) -> None:
    delay = make_delay()

    def later() -> None:
        raise RetryAfterError(delay)

    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("rate-limited", later)

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    error = answer.step.error
    assert error is not None
    assert error.retryable is True
    assert error.code == ErrorCode.RETRY_AFTER
    assert error.retry_after is not None
    assert 25 <= error.retry_after <= 30


def test_retry_after_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        RetryAfterError(datetime(2030, 1, 1))


def test_a_step_out_of_retries_raises_a_catchable_step_error() -> None:
    caught: list[StepError] = []

    async def handler(ctx: Context[Any], step: Step) -> str:
        try:
            await step.run("charge", boom)
        except StepError as exc:
            caught.append(exc)
            return await step.run("fallback", lambda: "invoice sent")
        return "charged"

    fn = make(handler)
    answer = call(fn, [failed_record("charge")])
    assert isinstance(answer, StepResponse)
    assert answer.step.id == "fallback"
    assert caught[0].step_id == "charge"
    assert caught[0].error_name == "ValueError"
    assert "card declined" in caught[0].message
    assert caught[0].code == ErrorCode.STEP_FAILED
    done = call(fn, [failed_record("charge"), StepRecord(id="fallback", data="invoice sent")])
    assert isinstance(done, CompleteResponse)
    assert done.output == "invoice sent"


def test_an_uncaught_step_error_fails_the_run_without_retry() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("charge", boom)

    answer = call(make(handler), [failed_record("charge")])
    assert isinstance(answer, FailedResponse)
    assert answer.error.name == "StepError"
    assert answer.error.code == ErrorCode.STEP_FAILED
    assert answer.error.retryable is False


def test_an_error_outside_steps_fails_the_call_retryably() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("a", lambda: 1)
        raise KeyError("missing")

    answer = call(make(handler), [StepRecord(id="a", data=1)])
    assert isinstance(answer, FailedResponse)
    assert (answer.error.name, answer.error.retryable) == ("KeyError", True)


def test_weir_errors_keep_their_retryable_flag() -> None:
    class Permanent(WeirError):
        retryable = False

    def fail() -> None:
        raise Permanent("config is wrong")

    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("s", fail)

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    assert answer.step.error is not None
    assert answer.step.error.retryable is False


def test_except_exception_cannot_swallow_the_step_interrupt() -> None:
    after: list[str] = []

    async def handler(ctx: Context[Any], step: Step) -> str:
        try:
            await step.run("a", lambda: "A")
            after.append("code after the step ran within the same call")
        except Exception:
            after.append("swallowed")
        return "returned"

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    assert answer.step.data == "A"
    assert after == []


def test_sync_handlers_cannot_swallow_it_either() -> None:
    after: list[str] = []

    def handler(ctx: Context[Any], step: SyncStep) -> str:
        try:
            step.run("a", lambda: "A")
        except Exception:
            after.append("swallowed")
        after.append("continued")
        return "returned"

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    assert after == []


def test_a_handler_that_swallows_base_exception_still_reports_the_step() -> None:
    async def handler(ctx: Context[Any], step: Step) -> str:
        with contextlib.suppress(BaseException):
            await step.run("a", lambda: "A")
        # Any further step after the call stopped raises the interrupt again.
        await step.run("b", lambda: "B")
        return "done"

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    assert (answer.step.id, answer.step.data) == ("a", "A")


def test_steps_cannot_nest() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        async def outer() -> int:
            return await step.run("inner", lambda: 1)

        await step.run("outer", outer)

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    assert answer.step.error is not None
    assert answer.step.error.code == ErrorCode.STEP_NESTED


def test_invalid_step_ids_are_refused() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("retry:1", lambda: 1)

    answer = call(make(handler))
    assert isinstance(answer, FailedResponse)
    assert answer.error.code == ErrorCode.STEP_ID_INVALID


def test_a_step_output_over_the_limit_fails_the_step_for_good() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("big", lambda: "x" * 200)

    answer = call(make(handler), limits=Limits(step_output_bytes=100))
    assert isinstance(answer, StepResponse)
    assert answer.step.error is not None
    assert answer.step.error.code == ErrorCode.STEP_OUTPUT_TOO_LARGE
    assert answer.step.error.retryable is False


def test_a_step_output_without_json_form_fails_the_step_for_good() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("opaque", lambda: object())

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    assert answer.step.error is not None
    assert answer.step.error.code == ErrorCode.STEP_OUTPUT_INVALID


def test_the_run_state_limit_counts_recorded_steps() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("a", lambda: "y" * 60)
        await step.run("b", lambda: "y" * 60)

    limits = Limits(step_output_bytes=1000, run_state_bytes=120)
    first = call(make(handler), limits=limits)
    assert isinstance(first, StepResponse)
    assert first.step.error is None
    second = call(make(handler), [StepRecord(id="a", data="y" * 60)], limits=limits)
    assert isinstance(second, StepResponse)
    assert second.step.error is not None
    assert second.step.error.code == ErrorCode.RUN_STATE_TOO_LARGE


def test_too_many_steps_fails_the_run_even_when_caught() -> None:
    async def handler(ctx: Context[Any], step: Step) -> str:
        for i in range(5):
            with contextlib.suppress(WeirError):
                await step.run("s", lambda i=i: i)
        return "kept going"

    recorded = [StepRecord(id=sid, data=i) for i, sid in enumerate(["s", "s:1", "s:2"])]
    answer = call(make(handler), recorded, limits=Limits(steps_per_run=3))
    assert isinstance(answer, FailedResponse)
    assert answer.error.code == ErrorCode.RUN_TOO_MANY_STEPS
    assert answer.error.retryable is False


def test_a_run_output_without_json_form_fails_for_good() -> None:
    async def handler(ctx: Context[Any], step: Step) -> object:
        return object()

    answer = call(make(handler))
    assert isinstance(answer, FailedResponse)
    assert answer.error.retryable is False


@pytest.mark.timeout(10)
def test_a_step_aborted_by_a_base_exception_fails_the_attempt_without_hanging() -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError

    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("aborted", cancelled)

    answer = call(make(handler))
    assert isinstance(answer, FailedResponse)
    assert answer.error.retryable is True


@pytest.mark.parametrize(
    "bad_step",
    [
        lambda step: step.sleep("nap", -1),
        lambda step: step.sleep_until("nap", datetime(2030, 1, 1)),
        lambda step: step.wait_for_event("w", event="a/b", timeout=-5),
    ],
    ids=["negative-sleep", "naive-datetime", "negative-timeout"],
)
def test_bad_step_options_fail_with_a_stable_code(bad_step: Any) -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await bad_step(step)

    answer = call(make(handler))
    assert isinstance(answer, FailedResponse)
    assert answer.error.code == ErrorCode.STEP_OPTIONS_INVALID


def test_a_bad_wait_condition_fails_with_filter_invalid() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.wait_for_event("w", event="a/b", timeout=5, if_="async.data.x ==")

    answer = call(make(handler))
    assert isinstance(answer, FailedResponse)
    assert answer.error.code == ErrorCode.FILTER_INVALID


def test_a_branch_that_raises_fails_the_call_rather_than_planning() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        async def broken() -> None:
            raise LookupError("no such cart")

        await asyncio.gather(step.run("a", lambda: 1), broken())

    answer = call(make(handler))
    assert isinstance(answer, FailedResponse)
    assert answer.error.name == "LookupError"
