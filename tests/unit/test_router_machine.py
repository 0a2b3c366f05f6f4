"""The run state machine, transition by transition (no Kafka)."""

from __future__ import annotations

from services.common.records import CancelRun, RetryLater, StartRun, TaskOutcome, Wake
from services.router.machine import (
    Env,
    RunState,
    apply_command,
    apply_outcome,
    run_id_for,
    start_run,
)
from weir.functions.protocol import (
    CompleteResponse,
    ErrorInfo,
    FailedResponse,
    PlannedResponse,
    RunWarning,
    StepOp,
    StepResponse,
    StepResult,
)

EVENT = {"name": "app/user.created", "id": "ev-1", "ts": 1, "data": {"id": 7}}


def _started() -> RunState:
    run_id = run_id_for("ev-1", "shop", "welcome")
    command = StartRun(run_id=run_id, app_id="shop", function_id="welcome", event=EVENT)
    effects = start_run(command, None, url="http://app/api/weir", retries=4)
    assert effects.state is not None
    return effects.state


def _outcome(state: RunState, seq: int, response: object, target: str | None = None) -> TaskOutcome:
    return TaskOutcome.model_validate(
        {
            "run_id": state.run_id,
            "seq": seq,
            "target_step": target,
            "attempts": 1,
            "response": response.model_dump(mode="json"),  # type: ignore[attr-defined]
        }
    )


def test_run_id_is_deterministic_per_event_and_function() -> None:
    assert run_id_for("e", "a", "f") == run_id_for("e", "a", "f")
    assert run_id_for("e", "a", "f") != run_id_for("e", "a", "g")
    assert run_id_for("e", "a", "f") != run_id_for("e2", "a", "f")


def test_start_emits_first_task_and_queued_history() -> None:
    run_id = run_id_for("ev-1", "shop", "welcome")
    command = StartRun(run_id=run_id, app_id="shop", function_id="welcome", event=EVENT)
    effects = start_run(command, None, url="http://app/api/weir", retries=2)
    assert [t.seq for t in effects.tasks] == [0]
    assert effects.tasks[0].retries == 2
    assert effects.tasks[0].steps == []
    assert [h.type for h in effects.history] == ["run.queued"]
    assert effects.history[0].event_id == "ev-1"


def test_a_second_start_changes_nothing() -> None:
    state = _started()
    command = StartRun(run_id=state.run_id, app_id="shop", function_id="welcome", event=EVENT)
    again = start_run(command, state, url="http://app/api/weir", retries=4)
    assert again.changed is False
    assert again.tasks == []


def test_start_of_an_unregistered_function_fails_the_run() -> None:
    command = StartRun(run_id="r", app_id="shop", function_id="gone", event=EVENT)
    effects = start_run(command, None, url=None, retries=0)
    assert effects.state is not None
    assert effects.state.status == "failed"
    assert effects.tasks == []
    assert effects.events[0]["name"] == "weir/function.failed"


def test_three_steps_then_complete() -> None:
    state = _started()
    for seq, step_id in enumerate(["a", "b", "c"]):
        step = StepResponse(step=StepResult(id=step_id, name=step_id, data={"n": seq}))
        effects = apply_outcome(state, _outcome(state, seq, step))
        assert [t.seq for t in effects.tasks] == [seq + 1]
        assert [s.id for s in effects.tasks[0].steps] == ["a", "b", "c"][: seq + 1]
    done = apply_outcome(state, _outcome(state, 3, CompleteResponse(output={"ok": True})))
    assert state.status == "completed"
    assert state.output == {"ok": True}
    assert done.tasks == []
    assert [h.type for h in done.history] == ["run.completed"]


def test_duplicate_and_stale_outcomes_are_ignored() -> None:
    state = _started()
    step = StepResponse(step=StepResult(id="a", name="a", data=1))
    first = apply_outcome(state, _outcome(state, 0, step))
    assert first.changed
    duplicate = apply_outcome(state, _outcome(state, 0, step))
    assert duplicate.changed is False
    assert duplicate.tasks == []


def test_a_recorded_step_is_never_replaced() -> None:
    state = _started()
    apply_outcome(
        state, _outcome(state, 0, StepResponse(step=StepResult(id="a", name="a", data=1)))
    )
    # A later task that somehow executed "a" again reports another value.
    apply_outcome(
        state, _outcome(state, 1, StepResponse(step=StepResult(id="a", name="a", data=2)))
    )
    assert [(s.id, s.data) for s in state.steps] == [("a", 1)]


def test_planned_steps_fan_out_then_join() -> None:
    state = _started()
    plan = PlannedResponse(
        steps=[StepOp(id="x", name="x", op="run"), StepOp(id="y", name="y", op="run")]
    )
    effects = apply_outcome(state, _outcome(state, 0, plan))
    targets = {t.seq: t.target_step for t in effects.tasks}
    assert sorted(targets.values()) == ["x", "y"]
    seq_x = next(s for s, t in targets.items() if t == "x")
    seq_y = next(s for s, t in targets.items() if t == "y")
    after_x = apply_outcome(
        state, _outcome(state, seq_x, StepResponse(step=StepResult(id="x", name="x", data=1)), "x")
    )
    assert after_x.tasks == [], "wait for every planned step before replaying"
    after_y = apply_outcome(
        state, _outcome(state, seq_y, StepResponse(step=StepResult(id="y", name="y", data=2)), "y")
    )
    assert [t.target_step for t in after_y.tasks] == [None]
    assert {s.id for s in after_y.tasks[0].steps} == {"x", "y"}


def test_send_event_step_is_recorded_and_emitted() -> None:
    state = _started()
    plan = PlannedResponse(
        steps=[
            StepOp(
                id="notify",
                name="notify",
                op="send_event",
                opts={"events": [{"name": "app/x", "id": "e9", "data": {}}]},
            )
        ]
    )
    effects = apply_outcome(state, _outcome(state, 0, plan))
    assert effects.events == [{"name": "app/x", "id": "e9", "data": {}}]
    assert [(s.id, s.data) for s in state.steps] == [("notify", {"ids": ["e9"]})]
    assert [t.target_step for t in effects.tasks] == [None], "replay right away"


def test_failed_run_emits_one_failure_event_with_a_stable_id() -> None:
    state = _started()
    error = ErrorInfo(name="ValueError", message="boom", retryable=False)
    effects = apply_outcome(state, _outcome(state, 0, FailedResponse(error=error)))
    assert state.status == "failed"
    assert [h.type for h in effects.history] == ["run.failed"]
    [failure] = effects.events
    assert failure["name"] == "weir/function.failed"
    assert failure["data"]["run_id"] == state.run_id
    assert failure["data"]["function_id"] == "welcome"
    assert failure["id"] == _failure_id_again(state.run_id)


def _failure_id_again(run_id: str) -> str:
    state = _started()
    state.run_id = run_id
    error = ErrorInfo(name="E", message="m")
    effects = apply_outcome(state, _outcome(state, 0, FailedResponse(error=error)))
    return str(effects.events[0]["id"])


def test_warnings_reach_the_history() -> None:
    state = _started()
    warning = RunWarning(code="steps_reordered", message="code changed")
    effects = apply_outcome(
        state, _outcome(state, 0, CompleteResponse(output=None, warnings=[warning]))
    )
    assert [h.type for h in effects.history] == ["run.warning", "run.completed"]


def test_outcomes_after_the_end_are_ignored() -> None:
    state = _started()
    apply_outcome(state, _outcome(state, 0, CompleteResponse(output=1)))
    late = apply_outcome(state, _outcome(state, 0, CompleteResponse(output=2)))
    assert late.changed is False
    assert state.output == 1


def test_an_accepted_outcome_fences_its_task_and_a_stale_one_does_not() -> None:
    state = _started()
    step = StepResponse(step=StepResult(id="a", name="a", data=1))
    accepted = apply_outcome(state, _outcome(state, 0, step))
    assert [(d.run_id, d.seq) for d in accepted.done] == [(state.run_id, 0)]
    stale = apply_outcome(state, _outcome(state, 0, step))
    assert stale.done == []


def _with_done(outcome: TaskOutcome, *steps: tuple[str, int]) -> TaskOutcome:
    done = [{"step": {"id": s, "name": s, "data": s.upper()}, "attempts": n} for s, n in steps]
    return TaskOutcome.model_validate({**outcome.model_dump(mode="json"), "done": done})


def test_steps_finished_on_the_way_are_recorded_before_the_answer() -> None:
    state = _started()
    outcome = _with_done(_outcome(state, 0, CompleteResponse(output=9)), ("a", 2), ("b", 1))
    effects = apply_outcome(state, outcome)
    assert [s.id for s in state.steps] == ["a", "b"]
    assert [(h.type, h.step_id, h.attempt) for h in effects.history] == [
        ("step.completed", "a", 2),
        ("step.completed", "b", 1),
        ("run.completed", None, None),
    ]
    assert (state.status, state.output, effects.tasks) == ("completed", 9, [])


def test_steps_finished_before_a_sleep_do_not_call_the_app_again() -> None:
    state = _started()
    sleep = PlannedResponse(steps=[StepOp(id="nap", name="nap", op="sleep", opts={"seconds": 60})])
    effects = apply_outcome(state, _with_done(_outcome(state, 0, sleep), ("a", 1)))
    assert [s.id for s in state.steps] == ["a"]
    assert (state.status, effects.tasks) == ("sleeping", [])


def test_a_step_answer_after_finished_steps_calls_the_app_with_all_of_them() -> None:
    state = _started()
    step = StepResponse(step=StepResult(id="c", name="c", data=3))
    effects = apply_outcome(state, _with_done(_outcome(state, 0, step), ("a", 1), ("b", 1)))
    assert [[s.id for s in t.steps] for t in effects.tasks] == [["a", "b", "c"]]


def test_a_handed_over_retry_writes_the_same_call_again_when_due() -> None:
    state = _started()
    a = StepResponse(step=StepResult(id="a", name="a", data=1))
    apply_outcome(state, _outcome(state, 0, a))
    error = ErrorInfo(name="E", message="down", retryable=True)
    failing = StepResponse(step=StepResult(id="b", name="b", error=error))
    later = _outcome(state, 1, failing).model_copy(
        update={"retry": RetryLater(at=50_000, attempt=2), "attempts": 2}
    )
    effects = apply_outcome(state, later)
    assert effects.tasks == [], "nothing until the delay is over"
    assert [d.seq for d in effects.done] == [1], "the failed task is fenced"
    assert not state.recorded("b"), "the error is not the step's result"
    assert state.timers == {"retry:1": 50_000}
    assert state.next_due() == 50_000

    assert apply_outcome(state, _outcome(state, 1, failing)).changed is False, "a copy's answer"

    early = apply_command(state, Wake(run_id=state.run_id, at=49_999), Env(now=49_999))
    assert early.changed is False
    due = apply_command(state, Wake(run_id=state.run_id, at=50_000), Env(now=50_000))
    [task] = due.tasks
    assert (task.seq, task.target_step, task.attempt) == (2, None, 2), "the same (plain) call"
    assert [s.id for s in task.steps] == ["a"]
    assert state.retrying == {}
    assert state.timers == {}

    done = apply_outcome(state, _outcome(state, 2, StepResponse(step=StepResult(id="b", name="b"))))
    assert state.recorded("b")
    assert [t.seq for t in done.tasks] == [3]


def test_a_run_that_ends_while_a_retry_waits_lets_it_go() -> None:
    state = _started()
    error = ErrorInfo(name="E", message="down", retryable=True)
    later = _outcome(state, 0, FailedResponse(error=error)).model_copy(
        update={"retry": RetryLater(at=50_000, attempt=1)}
    )
    apply_outcome(state, later)
    cancelled = apply_command(state, CancelRun(run_id=state.run_id, reason="ops"), Env(now=1))
    assert state.status == "cancelled"
    assert state.retrying == {}
    assert state.timers == {}
    assert cancelled.tasks == []
    woken = apply_command(state, Wake(run_id=state.run_id, at=50_000), Env(now=50_000))
    assert woken.tasks == []


def test_a_parallel_step_retried_later_keeps_its_target_and_holds_the_join() -> None:
    state = _started()
    plan = PlannedResponse(
        steps=[StepOp(id="x", name="x", op="run"), StepOp(id="y", name="y", op="run")]
    )
    targets = {t.target_step: t.seq for t in apply_outcome(state, _outcome(state, 0, plan)).tasks}
    error = ErrorInfo(name="E", message="down", retryable=True)
    failing_x = StepResponse(step=StepResult(id="x", name="x", error=error))
    later = _outcome(state, targets["x"], failing_x, "x").model_copy(
        update={"retry": RetryLater(at=9_000, attempt=1)}
    )
    apply_outcome(state, later)
    y = StepResponse(step=StepResult(id="y", name="y", data=2))
    after_y = apply_outcome(state, _outcome(state, targets["y"], y, "y"))
    assert after_y.tasks == [], "x is still to come: no replay yet"
    due = apply_command(state, Wake(run_id=state.run_id, at=9_000), Env(now=9_000))
    assert [(t.target_step, t.attempt) for t in due.tasks] == [("x", 1)]
