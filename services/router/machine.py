"""The run state machine: pure functions from (state, command) to (state, effects).

Kept free of Kafka and Faust so every transition is unit-tested directly;
services/router/app.py only loads the state, calls :func:`start_run` or
:func:`apply_command`, stores the new state and emits the effects. Steps the
platform carries out itself (sleep, wait_for_event, invoke) and the run's
cancellation live in services/router/suspend.py.

Idempotence is what makes at-least-once delivery safe here:
- a run id is derived from (event id, app, function), so an event read twice
  starts the run once (the second start finds the state and does nothing);
- every task has a sequence number and the state lists the open ones, so a
  duplicate or stale outcome is ignored;
- a step that has a record is never recorded again (first result wins), so a
  result is never replaced and never given to another step id;
- a timer, a wait or a child run resolves a step only while the step is
  pending: whichever comes first wins, the others find nothing to do.
"""

from __future__ import annotations

from services.common.records import (
    CancelRun,
    ChildEnded,
    Command,
    StartRun,
    TaskDone,
    TaskOutcome,
    WaitResolved,
    Wake,
    now_ms,
)
from services.router import suspend
from services.router.run_state import (
    FINAL,
    START_TIMEOUT_CODE,
    Effects,
    Env,
    Retry,
    RunState,
    Target,
    cancel,
    continue_run,
    emit_task,
    end_run,
    history,
    record,
    run_id_for,
    set_timer,
)
from weir.functions.config import FunctionConfig
from weir.functions.protocol import (
    CompleteResponse,
    ErrorInfo,
    FailedResponse,
    PlannedResponse,
    StepRecord,
    StepResponse,
)

__all__ = ["Effects", "Env", "RunState", "Target", "apply_command", "apply_outcome", "run_id_for"]


def start_run(
    command: StartRun,
    existing: RunState | None,
    *,
    url: str | None,
    retries: int,
    config: FunctionConfig | None = None,
    now: int | None = None,
) -> Effects:
    """A new run, queued with its first task; nothing if it already exists."""
    if existing is not None:
        return Effects(existing, changed=False)
    now = now_ms() if now is None else now
    state = RunState(
        run_id=command.run_id,
        app_id=command.app_id,
        function_id=command.function_id,
        url=url or "",
        retries=retries,
        event=command.event,
        parent=command.parent,
        accepted_at=command.accepted_at,
        created_at=now,
    )
    effects = Effects(state, history=[history(state, "run.queued")])
    if url is None:
        # The function was unregistered between the match and the start.
        end_run(
            state,
            effects,
            "failed",
            error=ErrorInfo(
                name="FunctionNotRegistered",
                message=f"{command.app_id}/{command.function_id} is no longer registered",
                code="function_not_found",
                retryable=False,
            ),
        )
        return effects
    if config is not None:
        suspend.arm_function_limits(state, effects, config, now)
    emit_task(state, effects, target=None, now=now)
    return effects


def apply_command(state: RunState, command: Command, env: Env) -> Effects:
    """Fold any command about an existing run into it."""
    if state.status in FINAL:
        return Effects(state, changed=False)
    if isinstance(command, TaskOutcome):
        return apply_outcome(state, command, env)
    if isinstance(command, Wake):
        return suspend.fire_timers(state, command.at, env)
    if isinstance(command, WaitResolved):
        return suspend.resolve_wait(state, command, env)
    if isinstance(command, ChildEnded):
        return suspend.child_ended(state, command, env)
    if isinstance(command, CancelRun):
        effects = Effects(state)
        cancel(state, effects, command.reason, command.code)
        return effects
    return Effects(state, changed=False)  # a StartRun for a run that exists


def apply_outcome(state: RunState, outcome: TaskOutcome, env: Env | None = None) -> Effects:
    """Fold a worker's outcome into the run and decide what happens next."""
    env = env or Env(now=now_ms())
    if state.status in FINAL or outcome.seq not in state.open:
        return Effects(state, changed=False)  # duplicate, stale, or the run is over
    target = state.open.pop(outcome.seq)
    emitted = state.task_at.pop(outcome.seq, env.now)
    state.status = "running"
    effects = Effects(state, done=[TaskDone(run_id=state.run_id, seq=outcome.seq)])
    response = outcome.response
    for warning in response.warnings:
        effects.history.append(history(state, "run.warning", warnings=[warning]))

    # Steps the task's calls finished on the way come first, in their order. They
    # are not progress by themselves: the call went on past them, so the rest of
    # the answer already says what follows them.
    for done in outcome.done:
        record(state, effects, StepRecord(id=done.step.id, data=done.step.data), done.attempts)
    if outcome.retry is not None:
        # The worker handed a long retry delay over: the same call again when due.
        name = f"retry:{outcome.seq}"
        state.retrying[name] = Retry(target=target, attempt=outcome.retry.attempt)
        set_timer(state, name, outcome.retry.at)
        return effects
    progress = False
    if isinstance(response, StepResponse):
        progress = _record_step(state, effects, response, outcome.attempts)
    elif isinstance(response, PlannedResponse):
        progress = suspend.plan(state, effects, response.steps, since=emitted, env=env)
    elif isinstance(response, CompleteResponse):
        if target is None or not state.open:
            end_run(state, effects, "completed", output=response.output)
            return effects
    elif isinstance(response, FailedResponse):
        if response.error.code == START_TIMEOUT_CODE:
            cancel(state, effects, response.error.message, START_TIMEOUT_CODE)
        else:
            end_run(state, effects, "failed", error=response.error)
        return effects
    continue_run(state, effects, progress, env.now)
    return effects


def _record_step(state: RunState, effects: Effects, response: StepResponse, attempts: int) -> bool:
    step = response.step
    return record(
        state, effects, StepRecord(id=step.id, data=step.data, error=step.error), attempts
    )
