"""``step.invoke``: the op a call reports, and the recorded result or error it returns."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from weir.errors import ErrorCode, StepError
from weir.events.model import Event
from weir.functions import Context, Step, SyncStep
from weir.functions.execute import AnyResponse, execute
from weir.functions.function import Function, define_function
from weir.functions.limits import Limits
from weir.functions.protocol import (
    CallRequest,
    CompleteResponse,
    ErrorInfo,
    FailedResponse,
    InvokeOpts,
    PlannedResponse,
    RunInfo,
    StepRecord,
)

EVENT = {"name": "invoke/start", "data": {}, "id": "e1", "ts": 1}


class LeadCreated(Event, name="invoke/lead.created"):
    lead_id: str
    score_hint: int = 0


class Score(BaseModel):
    lead_id: str
    points: int


async def score_lead(ctx: Context[LeadCreated], step: Step) -> Score:
    return Score(lead_id=ctx.event.data.lead_id, points=7)


SCORER = define_function(
    id="score-lead", name=None, trigger=LeadCreated, handler=score_lead, retries=0
)


def make(handler: Any) -> Function:
    return define_function(
        id="invoker", name=None, trigger="invoke/start", handler=handler, retries=0
    )


def call(function: Function, steps: Sequence[StepRecord] = ()) -> AnyResponse:
    request = CallRequest(
        function_id=function.id, event=EVENT, run=RunInfo(id="run-1"), steps=list(steps)
    )
    return asyncio.run(execute(function, request, limits=Limits()))


def planned_op(response: AnyResponse) -> Any:
    assert isinstance(response, PlannedResponse), response
    assert len(response.steps) == 1
    return response.steps[0]


def test_a_new_invoke_is_reported_with_function_data_and_timeout() -> None:
    async def handler(ctx: Context[Any], step: Step) -> Any:
        return await step.invoke(
            "score",
            function=SCORER,
            data={"lead_id": "l1"},
            timeout=timedelta(minutes=2),
        )

    op = planned_op(call(make(handler)))
    assert (op.id, op.name, op.op) == ("score", "score", "invoke")
    assert op.opts == {"function": "score-lead", "data": {"lead_id": "l1"}, "timeout": 120.0}
    assert InvokeOpts.model_validate(op.opts).timeout == 120.0


def test_without_a_timeout_the_option_is_absent() -> None:
    async def handler(ctx: Context[Any], step: Step) -> Any:
        return await step.invoke("other", function="crm/enrich", data={"x": None})

    op = planned_op(call(make(handler)))
    assert op.opts == {"function": "crm/enrich", "data": {"x": None}}


def test_data_may_be_a_model_or_an_event() -> None:
    class Payload(BaseModel):
        lead_id: str

    async def handler(ctx: Context[Any], step: Step) -> Any:
        await step.invoke("a", function=SCORER, data=Payload(lead_id="l2"))
        await step.invoke("b", function=SCORER, data=LeadCreated(data={"lead_id": "l3"}))
        return await step.invoke("c", function="score-lead")

    fn = make(handler)
    scored = {"lead_id": "l", "points": 1}
    assert planned_op(call(fn)).opts["data"] == {"lead_id": "l2"}
    second = planned_op(call(fn, [StepRecord(id="a", data=scored)]))
    assert second.opts["data"] == {"lead_id": "l3", "score_hint": 0}
    third = planned_op(call(fn, [StepRecord(id="a", data=scored), StepRecord(id="b", data=scored)]))
    assert third.opts["data"] == {}


def test_the_recorded_output_comes_back_as_the_target_return_type() -> None:
    async def handler(ctx: Context[Any], step: Step) -> Any:
        score = await step.invoke("score", function=SCORER, data={"lead_id": "l1"})
        assert isinstance(score, Score)
        raw = await step.invoke("raw", function="score-lead", data={"lead_id": "l1"})
        assert isinstance(raw, dict)
        return [score.points, raw["points"]]

    recorded = {"lead_id": "l1", "points": 9}
    done = call(
        make(handler), [StepRecord(id="score", data=recorded), StepRecord(id="raw", data=recorded)]
    )
    assert isinstance(done, CompleteResponse), done
    assert done.output == [9, 9]


@pytest.mark.parametrize("code", ["invoke_failed", "invoke_timeout", "function_not_found"])
def test_a_recorded_failure_raises_a_catchable_step_error(code: str) -> None:
    async def handler(ctx: Context[Any], step: Step) -> Any:
        try:
            await step.invoke("score", function=SCORER, data={"lead_id": "l1"})
        except StepError as exc:
            return [exc.step_id, exc.error_code]
        return "unreachable"

    error = ErrorInfo(name="InvokeError", message="no luck", code=code, retryable=False)
    done = call(make(handler), [StepRecord(id="score", error=error)])
    assert isinstance(done, CompleteResponse)
    assert done.output == ["score", code]


def test_an_uncaught_invoke_failure_fails_the_run_for_good() -> None:
    async def handler(ctx: Context[Any], step: Step) -> Any:
        return await step.invoke("score", function="score-lead", data={})

    error = ErrorInfo(name="InvokeTimeoutError", message="late", code="invoke_timeout")
    failed = call(make(handler), [StepRecord(id="score", error=error)])
    assert isinstance(failed, FailedResponse)
    assert failed.error.code == ErrorCode.STEP_FAILED
    assert failed.error.retryable is False


def test_parallel_invokes_are_planned_together() -> None:
    async def handler(ctx: Context[Any], step: Step) -> Any:
        return await asyncio.gather(
            *(step.invoke("score", function=SCORER, data={"lead_id": f"l{i}"}) for i in range(3))
        )

    response = call(make(handler))
    assert isinstance(response, PlannedResponse)
    assert [(op.id, op.opts["data"]) for op in response.steps] == [
        ("score", {"lead_id": "l0"}),
        ("score:1", {"lead_id": "l1"}),
        ("score:2", {"lead_id": "l2"}),
    ]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"function": SCORER, "data": {"lead": "l1"}}, "does not fit LeadCreated"),
        ({"function": SCORER, "data": {"lead_id": 5}}, "does not fit LeadCreated"),
        ({"function": "Not An Id", "data": {}}, "is not a function id"),
        ({"function": "a/b/c", "data": {}}, "is not a function id"),
        ({"function": "/fn", "data": {}}, "is not a function id"),
        ({"function": 42, "data": {}}, "takes a Function or a function id"),
        ({"function": "fn", "data": [1, 2]}, "data is an object"),
        ({"function": "fn", "data": {"when": object()}}, "no JSON form"),
        ({"function": "fn", "data": {}, "timeout": 0}, "timeout must be positive"),
        ({"function": "fn", "data": {}, "timeout": "1h"}, "timeout is a timedelta or seconds"),
    ],
)
def test_bad_invokes_fail_in_the_handler_with_step_options_invalid(
    kwargs: dict[str, Any], says: str
) -> None:
    async def handler(ctx: Context[Any], step: Step) -> Any:
        return await step.invoke("score", **kwargs)

    failed = call(make(handler))
    assert isinstance(failed, FailedResponse), failed
    assert failed.error.code == ErrorCode.STEP_OPTIONS_INVALID
    assert says in failed.error.message


def test_sync_handlers_invoke_the_same_way() -> None:
    def handler(ctx: Context[Any], step: SyncStep) -> Any:
        score = step.invoke("score", function=SCORER, data={"lead_id": "l1"}, timeout=30)
        return score.points

    fn = make(handler)
    op = planned_op(call(fn))
    assert op.opts == {"function": "score-lead", "data": {"lead_id": "l1"}, "timeout": 30.0}
    done = call(fn, [StepRecord(id="score", data={"lead_id": "l1", "points": 3})])
    assert isinstance(done, CompleteResponse)
    assert done.output == 3
    error = ErrorInfo(name="InvokeFailedError", message="x", code="invoke_failed")
    failed = call(fn, [StepRecord(id="score", error=error)])
    assert isinstance(failed, FailedResponse)
    assert failed.error.name == "StepError"
    assert failed.error.code == ErrorCode.STEP_FAILED
