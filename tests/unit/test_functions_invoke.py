"""The in-memory executor and ``step.invoke``: invoked functions run in-process, or answered."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from weir.errors import ErrorCode, InvokeTimeoutError, NonRetriableError, StepError
from weir.events.model import Event
from weir.events.raw import RawEvent
from weir.functions import Context, Step, SyncStep
from weir.functions.config import INVOKED_EVENT
from weir.functions.function import Function, define_function
from weir.functions.protocol import ErrorInfo, StepOp
from weir.functions.testing import RunLoopError, run_function


class OrderPlaced(Event, name="inv/order.placed"):
    order_id: str
    cents: int


class Receipt(BaseModel):
    order_id: str
    charged: int


def define(fn_id: str, handler: Any, trigger: Any = "inv/start", retries: int = 0) -> Function:
    return define_function(id=fn_id, name=None, trigger=trigger, handler=handler, retries=retries)


async def charge(ctx: Context[OrderPlaced], step: Step) -> Receipt:
    cents = await step.run("bank", lambda: ctx.event.data.cents)
    return Receipt(order_id=ctx.event.data.order_id, charged=cents)


CHARGE = define("charge", charge, trigger=OrderPlaced)
START = {"name": "inv/start", "data": {"order_id": "o1", "cents": 250}}


def checkout(function: Function | str = CHARGE) -> Function:
    async def handler(ctx: Context[Any], step: Step) -> Any:
        receipt = await step.invoke("pay", function=function, data=ctx.event.data)
        return receipt if isinstance(receipt, dict) else ["typed", receipt.charged]

    return define("checkout", handler)


def test_a_listed_function_runs_in_process_and_its_output_is_the_result() -> None:
    result = run_function(checkout(), START, functions=[CHARGE])
    assert result.status == "completed"
    assert result.output == ["typed", 250]
    child = result.invoked["pay"]
    assert child.status == "completed"
    assert child.executions == {"bank": 1}
    assert result.steps["pay"].data == {"order_id": "o1", "charged": 250}


def test_a_function_named_by_id_is_found_in_functions() -> None:
    for reference in ("charge", "shop/charge"):
        result = run_function(checkout(reference), START, functions=[CHARGE])
        assert result.output == {"order_id": "o1", "charged": 250}


def test_the_invoked_run_gets_the_target_trigger_event() -> None:
    seen: list[Any] = []

    async def on_anything(ctx: Context[Any], step: Step) -> str:
        seen.append(ctx.event)
        return "ok"

    typed = define("typed", on_anything, trigger=["inv/*", OrderPlaced])
    untyped = define("untyped", on_anything, trigger="inv/*")

    async def handler(ctx: Context[Any], step: Step) -> Any:
        await step.invoke("a", function=typed, data={"order_id": "o", "cents": 1})
        return await step.invoke("b", function=untyped, data={"free": "form"})

    result = run_function(define("caller", handler), START, functions=[typed, untyped])
    assert result.status == "completed"
    assert isinstance(seen[0], OrderPlaced)
    assert isinstance(seen[1], RawEvent)
    assert (seen[1].name, seen[1].data) == (INVOKED_EVENT, {"free": "form"})


def test_a_failed_invoked_run_fails_the_step_with_invoke_failed() -> None:
    async def broken(ctx: Context[Any], step: Step) -> None:
        raise NonRetriableError("card declined")

    target = define("broken", broken, trigger=OrderPlaced)

    async def handler(ctx: Context[Any], step: Step) -> Any:
        try:
            await step.invoke("pay", function=target, data=ctx.event.data)
        except StepError as exc:
            return [exc.error_code, exc.message]
        return "unreachable"

    result = run_function(define("caller", handler), START, functions=[target])
    assert result.status == "completed"
    code, message = result.output
    assert code == ErrorCode.INVOKE_FAILED
    assert "card declined" in message
    assert result.invoked["pay"].status == "failed"
    error = result.steps["pay"].error
    assert error is not None
    assert error.retryable is False


def test_invokes_answers_steps_by_id_with_values_or_errors() -> None:
    def handler(ctx: Context[Any], step: SyncStep) -> Any:
        first = step.invoke("first", function="anywhere/fn", data={})
        try:
            step.invoke("late", function="slow-fn", data={})
        except StepError as exc:
            return [first, exc.error_code]
        return "unreachable"

    answers: dict[str, Any] = {
        "first": Receipt(order_id="o9", charged=1),
        "late": InvokeTimeoutError("did not finish within 30s"),
    }
    result = run_function(define("caller", handler), START, invokes=answers)
    assert result.output == [{"order_id": "o9", "charged": 1}, "invoke_timeout"]
    assert result.invoked == {}


def test_invokes_may_be_a_callable_and_may_give_error_infos() -> None:
    seen: list[StepOp] = []

    def answer(op: StepOp) -> Any:
        seen.append(op)
        return ErrorInfo(name="Gone", message="no", code="function_not_found", retryable=False)

    async def handler(ctx: Context[Any], step: Step) -> Any:
        try:
            await step.invoke("x", function="fn", data={"a": 1}, timeout=5)
        except StepError as exc:
            return exc.error_code
        return None

    result = run_function(define("caller", handler), START, invokes=answer)
    assert result.output == "function_not_found"
    assert seen[0].opts == {"function": "fn", "data": {"a": 1}, "timeout": 5.0}


def test_an_unknown_function_fails_the_step_with_function_not_found() -> None:
    result = run_function(checkout("nowhere"), START)
    assert result.status == "failed"
    error = result.steps["pay"].error
    assert error is not None
    assert error.code == ErrorCode.FUNCTION_NOT_FOUND
    assert "functions=" in error.message


def test_invoked_functions_may_invoke_others() -> None:
    async def middle(ctx: Context[Any], step: Step) -> Any:
        receipt = await step.invoke("inner", function=CHARGE, data=ctx.event.data)
        return {"wrapped": receipt.charged}

    middle_fn = define("middle", middle, trigger="inv/middle")
    result = run_function(checkout(middle_fn), START, functions=[middle_fn, CHARGE])
    assert result.output == {"wrapped": 250}
    assert result.invoked["pay"].invoked["inner"].output == {"order_id": "o1", "charged": 250}


def test_endless_recursion_is_reported() -> None:
    async def forever(ctx: Context[Any], step: Step) -> Any:
        return await step.invoke("again", function="forever", data={})

    fn = define("forever", forever)
    with pytest.raises(RunLoopError, match="deep"):
        run_function(fn, START, functions=[fn])


def test_sleeps_and_waits_still_pass_as_before() -> None:
    async def handler(ctx: Context[Any], step: Step) -> Any:
        await step.sleep("nap", 3600)
        got = await step.wait_for_event("ok", event="inv/ok", timeout=60)
        return await step.invoke("pay", function=CHARGE, data={"order_id": "o", "cents": 3}) and (
            got.data if got else None
        )

    result = run_function(
        define("caller", handler),
        START,
        functions=[CHARGE],
        waits={"ok": {"name": "inv/ok", "data": {"yes": True}}},
    )
    assert result.output == {"yes": True}
    assert [op.id for op in result.sleeps] == ["nap"]
