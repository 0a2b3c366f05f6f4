"""Sleep, wait_for_event, invoke, cancel_on and timeouts in the run state machine (no Kafka)."""

from __future__ import annotations

from typing import Any

from services.common.records import (
    CancelRun,
    ChildEnded,
    StartRun,
    TaskOutcome,
    WaitClose,
    WaitOpen,
    WaitResolved,
    Wake,
)
from services.router.machine import Env, RunState, Target, apply_command, start_run
from services.router.wait_keys import unindexed_key, wait_key
from weir.functions.config import CancelConfig, FunctionConfig, TimeoutsConfig, TriggerConfig
from weir.functions.protocol import (
    CompleteResponse,
    ErrorInfo,
    PlannedResponse,
    StepOp,
    StepResponse,
    StepResult,
)

T0 = 1_000_000
EVENT = {"name": "shop/cart.added", "id": "ev-1", "ts": T0 - 5, "data": {"cart_id": "c1"}}
CHILD = FunctionConfig(
    id="child", name="child", triggers=[TriggerConfig(event="shop/child.requested")]
)


def _env(now: int = T0) -> Env:
    known = {("shop", "child"): Target("http://app/api/weir", 0, CHILD)}
    return Env(now=now, resolve=lambda app, fn: known.get((app, fn)))


def _start(config: FunctionConfig | None = None, now: int = T0) -> tuple[RunState, Any]:
    command = StartRun(
        run_id="run-1", app_id="shop", function_id="f", event=EVENT, accepted_at=T0 - 5
    )
    effects = start_run(command, None, url="http://app/api/weir", retries=0, config=config, now=now)
    assert effects.state is not None
    return effects.state, effects


def _answer(state: RunState, response: Any, now: int = T0) -> Any:
    seq = max(state.open)
    outcome = TaskOutcome.model_validate(
        {"run_id": state.run_id, "seq": seq, "attempts": 1, "response": response.model_dump()}
    )
    return apply_command(state, outcome, _env(now))


def _plan(*ops: StepOp) -> PlannedResponse:
    return PlannedResponse(steps=list(ops))


def test_a_sleep_holds_no_task_and_its_timer_wakes_the_run_once() -> None:
    state, _ = _start()
    effects = _answer(state, _plan(StepOp(id="nap", name="nap", op="sleep", opts={"seconds": 5})))
    assert effects.tasks == []
    assert state.status == "sleeping"
    assert state.next_due() == T0 + 5000
    assert [h.type for h in effects.history] == ["step.sleeping"]

    early = apply_command(state, Wake(run_id=state.run_id, at=T0 + 4999), _env(T0 + 4999))
    assert early.changed is False
    woken = apply_command(state, Wake(run_id=state.run_id, at=T0 + 5000), _env(T0 + 5000))
    assert [t.steps[0].id for t in woken.tasks] == ["nap"]
    assert state.status == "running"
    assert state.next_due() is None
    again = apply_command(state, Wake(run_id=state.run_id, at=T0 + 6000), _env(T0 + 6000))
    assert again.changed is False, "a timer fires once"


def test_sleep_until_in_the_past_is_recorded_at_once() -> None:
    state, _ = _start()
    op = StepOp(id="nap", name="nap", op="sleep", opts={"until": "1970-01-01T00:00:00+00:00"})
    effects = _answer(state, _plan(op))
    assert state.recorded("nap")
    assert len(effects.tasks) == 1


def _wait_op(**opts: Any) -> StepOp:
    return StepOp(
        id="w", name="w", op="wait_for_event", opts={"event": "shop/paid", "timeout": 60, **opts}
    )


def test_a_wait_is_indexed_by_event_name_and_the_triggers_match_value() -> None:
    state, _ = _start()
    emitted_at = state.task_at[0]
    effects = _answer(state, _plan(_wait_op(match="data.cart_id")), now=T0 + 30)
    [opened] = effects.waits
    assert isinstance(opened, WaitOpen)
    assert opened.key == wait_key("shop/paid", "data.cart_id", "c1")
    assert opened.since == emitted_at, "events count from when the call that reached it began"
    assert opened.expires == T0 + 30 + 60_000
    assert state.status == "waiting"


def test_the_matching_event_resumes_the_wait_and_the_timeout_then_does_nothing() -> None:
    state, _ = _start()
    _answer(state, _plan(_wait_op(match="data.cart_id")))
    paid = {"name": "shop/paid", "id": "ev-2", "data": {"cart_id": "c1"}}
    resolved = apply_command(state, WaitResolved(run_id="run-1", step_id="w", event=paid), _env())
    assert state.steps[-1].data == paid
    assert len(resolved.tasks) == 1
    late = apply_command(state, Wake(run_id="run-1", at=T0 + 120_000), _env(T0 + 120_000))
    assert late.changed is False
    twice = apply_command(state, WaitResolved(run_id="run-1", step_id="w", event=paid), _env())
    assert twice.changed is False


def test_the_timeout_resolves_the_wait_with_none_and_closes_its_index_entry() -> None:
    state, _ = _start()
    _answer(state, _plan(_wait_op(match="data.cart_id")))
    effects = apply_command(state, Wake(run_id="run-1", at=T0 + 60_000), _env(T0 + 60_000))
    assert state.steps[-1].id == "w"
    assert state.steps[-1].data is None
    assert [type(w) for w in effects.waits] == [WaitClose]
    paid = {"name": "shop/paid", "id": "ev-2", "data": {"cart_id": "c1"}}
    late = apply_command(state, WaitResolved(run_id="run-1", step_id="w", event=paid), _env())
    assert late.changed is False, "the event that lost the race changes nothing"


def test_a_wait_with_only_an_expression_goes_to_the_names_unindexed_key() -> None:
    state, _ = _start()
    effects = _answer(state, _plan(_wait_op(**{"if": "async.data.n > 1"})))
    [opened] = effects.waits
    assert opened.key == unindexed_key("shop/paid")
    assert opened.expression == "async.data.n > 1"
    assert opened.trigger == EVENT


def test_a_wait_whose_match_path_is_absent_from_the_trigger_only_times_out() -> None:
    state, _ = _start()
    effects = _answer(state, _plan(_wait_op(match="data.nope")))
    assert effects.waits == []
    assert "only the timeout" in str(effects.history[-1].data)
    assert state.next_due() == T0 + 60_000


def test_parallel_run_step_goes_on_while_a_wait_is_pending() -> None:
    state, _ = _start()
    effects = _answer(
        state, _plan(_wait_op(match="data.cart_id"), StepOp(id="a", name="a", op="run"))
    )
    assert [t.target_step for t in effects.tasks] == ["a"]
    step = StepResponse(step=StepResult(id="a", name="a", data=1))
    after = _answer(state, step)
    assert len(after.tasks) == 1, "a recorded step may let another branch go further"
    nothing_new = _answer(state, _plan(_wait_op(match="data.cart_id")))
    assert nothing_new.tasks == []
    assert state.status == "waiting"


def test_invoke_starts_the_child_directly_and_records_its_output() -> None:
    state, _ = _start()
    op = StepOp(id="inv", name="inv", op="invoke", opts={"function": "child", "data": {"x": 1}})
    effects = _answer(state, _plan(op))
    [start] = effects.commands
    assert isinstance(start, StartRun)
    assert (start.app_id, start.function_id) == ("shop", "child")
    assert start.event["name"] == "shop/child.requested"
    assert start.event["data"] == {"x": 1}
    assert start.parent is not None
    assert start.parent.step_id == "inv"

    child_state, _ = _start_child(start)
    child_done = _answer(child_state, CompleteResponse(output={"y": 2}))
    [ended] = child_done.commands
    assert isinstance(ended, ChildEnded)
    assert ended.run_id == "run-1"
    parent_effects = apply_command(state, ended, _env())
    assert state.steps[-1].data == {"y": 2}
    assert len(parent_effects.tasks) == 1


def _start_child(start: StartRun) -> tuple[RunState, Any]:
    effects = start_run(start, None, url="http://app/api/weir", retries=0, config=CHILD, now=T0)
    assert effects.state is not None
    return effects.state, effects


def test_a_failed_child_fails_the_invoke_step() -> None:
    state, _ = _start()
    op = StepOp(id="inv", name="inv", op="invoke", opts={"function": "shop/child"})
    [start] = _answer(state, _plan(op)).commands
    error = ErrorInfo(name="ValueError", message="bad", retryable=False)
    ended = ChildEnded(run_id="run-1", step_id="inv", child_run_id=start.run_id, error=error)
    apply_command(state, ended, _env())
    assert state.steps[-1].error is not None
    assert state.steps[-1].error.code == "invoke_failed"
    assert "bad" in state.steps[-1].error.message


def test_invoking_an_unknown_function_fails_the_step_at_once() -> None:
    state, _ = _start()
    op = StepOp(id="inv", name="inv", op="invoke", opts={"function": "ghost"})
    effects = _answer(state, _plan(op))
    assert effects.commands == []
    assert state.steps[-1].error is not None
    assert state.steps[-1].error.code == "function_not_found"
    assert len(effects.tasks) == 1, "the handler sees the StepError"


def test_an_invoke_timeout_fails_the_step_and_cancels_the_child() -> None:
    state, _ = _start()
    op = StepOp(id="inv", name="inv", op="invoke", opts={"function": "child", "timeout": 2})
    [start] = _answer(state, _plan(op)).commands
    effects = apply_command(state, Wake(run_id="run-1", at=T0 + 2000), _env(T0 + 2000))
    assert state.steps[-1].error is not None
    assert state.steps[-1].error.code == "invoke_timeout"
    [cancel] = effects.commands
    assert isinstance(cancel, CancelRun)
    assert cancel.run_id == start.run_id


def test_cancel_on_opens_a_wait_at_start_and_a_match_cancels_between_steps() -> None:
    config = FunctionConfig(
        id="f",
        name="f",
        triggers=[TriggerConfig(event="shop/cart.added")],
        cancel_on=[CancelConfig(event="shop/cart.emptied", match="data.cart_id", timeout=600)],
    )
    state, started = _start(config)
    [opened] = started.waits
    assert opened.step_id == "cancel:0"
    assert opened.since == T0 - 5, "events written after the trigger cancel"
    assert state.timers["cancel:0"] == T0 + 600_000
    emptied = {"name": "shop/cart.emptied", "id": "ev-9", "data": {"cart_id": "c1"}}
    effects = apply_command(
        state, WaitResolved(run_id="run-1", step_id="cancel:0", event=emptied), _env()
    )
    assert state.status == "cancelled"
    assert state.error is not None
    assert state.error.code == "cancelled_by_event"
    assert "shop/cart.emptied ev-9" in state.error.message
    assert [d.seq for d in effects.done] == [0], "the task in flight is fenced"
    assert effects.history[-1].type == "run.cancelled"


def test_a_run_past_its_finish_timeout_is_cancelled_with_the_reason() -> None:
    config = FunctionConfig(
        id="f",
        name="f",
        triggers=[TriggerConfig(event="shop/cart.added")],
        timeouts=TimeoutsConfig(start=1, finish=3),
    )
    state, started = _start(config)
    assert started.tasks[0].start_by == T0 + 1000
    _answer(state, _plan(_wait_op(match="data.cart_id")))
    effects = apply_command(state, Wake(run_id="run-1", at=T0 + 3000), _env(T0 + 3000))
    assert state.status == "cancelled"
    assert state.error is not None
    assert state.error.code == "function_timeout"
    assert any(isinstance(w, WaitClose) for w in effects.waits), "its wait leaves the index"
    assert state.timers == {}


def test_a_cancelled_child_tells_its_parent() -> None:
    state, _ = _start()
    op = StepOp(id="inv", name="inv", op="invoke", opts={"function": "child"})
    [start] = _answer(state, _plan(op)).commands
    child, _ = _start_child(start)
    effects = apply_command(child, CancelRun(run_id=child.run_id, reason="stop"), _env())
    [ended] = effects.commands
    assert isinstance(ended, ChildEnded)
    assert ended.error is not None
