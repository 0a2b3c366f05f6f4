"""Checkpoints: a call goes on past steps that finished quickly and answers them all.

Each call here is one POST as a worker makes it; ``done`` in the answer is
what the call finished before the rest of its answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from tests.support.calls import call_once
from weir.errors import ErrorCode, WeirError
from weir.functions import Checkpoint, Context, Step, SyncStep
from weir.functions.execute import AnyResponse
from weir.functions.function import Function, define_function
from weir.functions.limits import Limits
from weir.functions.protocol import (
    CompleteResponse,
    PlannedResponse,
    StepRecord,
    StepResponse,
)
from weir.testing import run_function

EVENT = {"name": "test/checkpoint", "data": {}, "id": "e1", "ts": 1}


class Quote(BaseModel):
    cents: int


def quote() -> Quote:
    return Quote(cents=5)


def make(handler: Any, checkpoint: Checkpoint | None = None) -> Function:
    return define_function(
        id="cp-fn",
        name=None,
        trigger="test/checkpoint",
        handler=handler,
        retries=4,
        checkpoint=checkpoint,
    )


def call(
    function: Function,
    steps: Sequence[StepRecord] = (),
    *,
    target: str | None = None,
    attempt: int = 0,
    limits: Limits | None = None,
) -> AnyResponse:
    return call_once(function, EVENT, steps, target=target, attempt=attempt, limits=limits)


def done_ids(answer: AnyResponse) -> list[str]:
    return [step.id for step in answer.done]


def test_by_default_one_call_runs_quick_steps_through_to_the_end() -> None:
    ran: Counter[str] = Counter()

    def mark(name: str) -> str:
        ran[name] += 1
        return name.upper()

    async def handler(ctx: Context[Any], step: Step) -> str:
        a = await step.run("a", mark, "a")
        b = await step.run("b", mark, "b")
        c = await step.run("c", mark, "c")
        return a + b + c

    answer = call(make(handler))
    assert isinstance(answer, CompleteResponse)
    assert answer.output == "ABC"
    assert [(s.id, s.data) for s in answer.done] == [("a", "A"), ("b", "B"), ("c", "C")]
    assert ran == {"a": 1, "b": 1, "c": 1}  # each step ran once: replays use the memo


def test_max_steps_bounds_the_steps_of_one_call() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        for i in range(5):
            await step.run(f"s{i}", lambda: None)

    answer = call(make(handler, Checkpoint(max_steps=2)))
    assert isinstance(answer, StepResponse)
    assert (done_ids(answer), answer.step.id) == (["s0"], "s1")

    alone = call(make(handler, Checkpoint(max_steps=1)))
    assert isinstance(alone, StepResponse)
    assert (done_ids(alone), alone.step.id) == ([], "s0")


def test_a_slow_step_ends_the_call_so_it_is_recorded_before_the_next_starts() -> None:
    started: list[str] = []

    def slow() -> int:
        started.append("slow")
        time.sleep(0.06)
        return 1

    def after() -> int:
        started.append("after")
        return 2

    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("slow", slow)
        await step.run("after", after)

    answer = call(make(handler, Checkpoint(max_seconds=0.05)))
    assert isinstance(answer, StepResponse)
    assert (done_ids(answer), answer.step.id, started) == ([], "slow", ["slow"])


def test_a_failing_step_is_answered_with_the_steps_finished_before_it() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("ok", lambda: 1)
        await step.run("boom", lambda: 1 / 0)
        await step.run("never", lambda: 3)

    answer = call(make(handler))
    assert isinstance(answer, StepResponse)
    assert done_ids(answer) == ["ok"]
    assert answer.step.id == "boom"
    assert answer.step.error is not None
    assert answer.step.error.name == "ZeroDivisionError"


def test_a_platform_step_or_parallel_steps_end_the_call() -> None:
    async def sleeper(ctx: Context[Any], step: Step) -> None:
        await step.run("a", lambda: 1)
        await step.sleep("nap", 60)
        await step.run("b", lambda: 2)

    answer = call(make(sleeper))
    assert isinstance(answer, PlannedResponse)
    assert (done_ids(answer), [op.id for op in answer.steps]) == (["a"], ["nap"])

    async def fan_out(ctx: Context[Any], step: Step) -> None:
        await step.run("a", lambda: 1)
        await asyncio.gather(step.run("x", lambda: 1), step.run("y", lambda: 2))

    answer = call(make(fan_out))
    assert isinstance(answer, PlannedResponse)
    assert (done_ids(answer), sorted(op.id for op in answer.steps)) == (["a"], ["x", "y"])


def test_a_targeted_call_runs_its_one_step_only() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await asyncio.gather(step.run("x", lambda: 1), step.run("y", lambda: 2))
        await step.run("z", lambda: 3)

    answer = call(make(handler), target="x")
    assert isinstance(answer, StepResponse)
    assert (done_ids(answer), answer.step.id) == ([], "x")


def test_sync_handlers_go_on_the_same_way() -> None:
    def handler(ctx: Context[Any], step: SyncStep) -> int:
        return int(step.run("a", lambda: 1)) + int(step.run("b", lambda: 2))

    answer = call(make(handler))
    assert isinstance(answer, CompleteResponse)
    assert (done_ids(answer), answer.output) == (["a", "b"], 3)


def test_the_steps_after_the_first_see_attempt_zero() -> None:
    seen: list[tuple[str, int]] = []

    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("a", lambda: seen.append(("a", ctx.attempt)))
        await step.run("b", lambda: seen.append(("b", ctx.attempt)))

    call(make(handler), attempt=2)
    assert seen == [("a", 2), ("b", 0)]


def test_the_run_state_limit_counts_the_steps_finished_in_the_same_call() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        await step.run("a", lambda: "x" * 600)
        await step.run("b", lambda: "y" * 600)

    answer = call(make(handler), limits=Limits(run_state_bytes=1000))
    assert isinstance(answer, StepResponse)
    assert done_ids(answer) == ["a"]
    assert answer.step.error is not None
    assert answer.step.error.code == ErrorCode.RUN_STATE_TOO_LARGE


def test_the_testing_helper_records_every_step_a_call_finished() -> None:
    async def handler(ctx: Context[Any], step: Step) -> int:
        total = 0
        for i in range(5):
            total += int(await step.run("add", lambda i=i: i))
        return total

    result = run_function(make(handler), EVENT)
    assert (result.status, result.output, result.calls) == ("completed", 10, 1)
    assert set(result.steps) == {"add", "add:1", "add:2", "add:3", "add:4"}
    assert all(count == 1 for count in result.executions.values())
    every = run_function(make(handler, Checkpoint(max_steps=1)), EVENT)
    assert (every.output, every.calls) == (10, 6)


@pytest.mark.parametrize(
    "given",
    [
        {"max_steps": 0},
        {"max_steps": 1.5},
        {"max_steps": True},
        {"max_seconds": -1},
        {"max_seconds": float("inf")},
        {"max_seconds": "1s"},
    ],
)
def test_a_bad_checkpoint_is_refused_with_a_stable_code(given: dict[str, Any]) -> None:
    with pytest.raises(WeirError) as excinfo:
        Checkpoint(**given)
    assert excinfo.value.code == ErrorCode.CHECKPOINT_INVALID


def test_checkpoint_must_be_a_checkpoint() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        return None

    with pytest.raises(WeirError) as excinfo:
        make(handler, "fast")  # type: ignore[arg-type]
    assert excinfo.value.code == ErrorCode.CHECKPOINT_INVALID


def test_the_handler_goes_on_in_place_and_gets_each_result_as_a_replay_would() -> None:
    entered: list[int] = []
    got: list[Any] = []

    async def handler(ctx: Context[Any], step: Step) -> None:
        entered.append(1)
        got.append(await step.run("pair", lambda: (1, 2)))
        got.append(await step.run("price", quote))

    function = make(handler)
    answer = call(function)
    assert isinstance(answer, CompleteResponse)
    assert entered == [1]  # one pass through the handler for the whole call
    assert got == [[1, 2], Quote(cents=5)]  # JSON forms, typed by the return annotation
    # A later call that replays the same steps from their records sees the same values.
    got.clear()
    call(function, [StepRecord(id=s.id, data=s.data) for s in answer.done])
    assert got == [[1, 2], Quote(cents=5)]


def test_the_step_limit_counts_steps_a_call_went_on_past() -> None:
    async def handler(ctx: Context[Any], step: Step) -> None:
        for i in range(10):
            await step.run(f"s{i}", lambda: None)

    answer = call(make(handler), limits=Limits(steps_per_run=3))
    assert done_ids(answer) == ["s0", "s1", "s2"]
    assert answer.outcome == "failed"
    assert answer.error.code == ErrorCode.RUN_TOO_MANY_STEPS  # type: ignore[union-attr]
