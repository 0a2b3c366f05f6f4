"""Steps the platform carries out itself, and the limits it watches over a run.

- ``step.sleep``: a timer in the run's state; the router's timer loop wakes
  the run when it is due (services/router/timers.py).
- ``step.wait_for_event``: an entry in the wait index (services/router/waits.py)
  plus a timer for the timeout; whichever reaches the run first resolves the
  step, the other finds it resolved and does nothing.
- ``step.invoke``: a child run started directly (not through the events
  topic, so no other function sees it) that reports its end to this run.
- ``cancel_on`` and ``timeouts``: wait entries and timers armed at start.

Every function here is pure, like services/router/machine.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import JsonValue

from services.common.records import (
    CancelRun,
    ChildEnded,
    ParentLink,
    StartRun,
    WaitClose,
    WaitOpen,
    WaitResolved,
)
from services.router.run_state import (
    FINAL,
    Effects,
    Env,
    Pending,
    RunState,
    cancel,
    continue_run,
    derived_id,
    emit_task,
    history,
    plan_run_step,
    record,
    set_timer,
)
from services.router.wait_keys import indexable, unindexed_key, value_at, wait_key
from weir.errors import ErrorCode
from weir.functions.config import INVOKED_EVENT, FunctionConfig
from weir.functions.protocol import ErrorInfo, StepOp, StepRecord

# A cancel_on without a timeout lasts as long as the run: its index entry
# carries this expiry (ten years), and the run's end removes it.
FOREVER_MS = 10 * 365 * 24 * 3600 * 1000


def plan(state: RunState, effects: Effects, ops: list[StepOp], *, since: int, env: Env) -> bool:
    """Take the steps a call reported; True when one was recorded at once."""
    progress = False
    for op in ops:
        if state.recorded(op.id) or op.id in state.open.values() or op.id in state.pending:
            continue
        try:
            if op.op == "run":
                plan_run_step(state, effects, op, env.now)
            elif op.op == "send_event":
                progress |= _send(state, effects, op)
            elif op.op == "sleep":
                progress |= _sleep(state, effects, op, env.now)
            elif op.op == "wait_for_event":
                _wait(state, effects, op, since, env.now)
            elif op.op == "invoke":
                progress |= _invoke(state, effects, op, env)
        except (KeyError, TypeError, ValueError) as exc:
            error = ErrorInfo(
                name="StepOptionsInvalid",
                message=f"step {op.id!r} ({op.op}) has invalid options: {exc}",
                code=ErrorCode.STEP_OPTIONS_INVALID,
                retryable=False,
            )
            progress |= record(state, effects, StepRecord(id=op.id, error=error))
    return progress


def _send(state: RunState, effects: Effects, op: StepOp) -> bool:
    given = op.opts.get("events")
    events = [e for e in given if isinstance(e, dict)] if isinstance(given, list) else []
    effects.events.extend(events)
    ids: list[JsonValue] = [e.get("id") for e in events]
    return record(state, effects, StepRecord(id=op.id, data={"ids": ids}))


def _sleep(state: RunState, effects: Effects, op: StepOp, now: int) -> bool:
    if "until" in op.opts:
        due = int(datetime.fromisoformat(str(op.opts["until"])).timestamp() * 1000)
    else:
        due = now + _ms(op.opts["seconds"])
    if due <= now:
        return record(state, effects, StepRecord(id=op.id))
    state.pending[op.id] = Pending(op="sleep")
    set_timer(state, _step_timer(op.id), due)
    effects.history.append(history(state, "step.sleeping", step_id=op.id, data={"until": due}))
    return False


def _wait(state: RunState, effects: Effects, op: StepOp, since: int, now: int) -> None:
    name = str(op.opts["event"])
    match = op.opts.get("match")
    expression = op.opts.get("if")
    due = now + _ms(op.opts["timeout"])
    key = _open_wait(
        state,
        effects,
        step_id=op.id,
        event_name=name,
        match=str(match) if match is not None else None,
        expression=str(expression) if expression is not None else None,
        since=since,
        expires=due,
    )
    state.pending[op.id] = Pending(op="wait", key=key)
    set_timer(state, _step_timer(op.id), due)
    data: dict[str, JsonValue] = {"event": name, "match": match, "if": expression, "until": due}
    if key is None:
        data["note"] = f"the trigger has no value at {match!r}: only the timeout can end this wait"
    effects.history.append(history(state, "step.waiting", step_id=op.id, data=data))


def _invoke(state: RunState, effects: Effects, op: StepOp, env: Env) -> bool:
    reference = str(op.opts["function"])
    app_id, _, function_id = reference.rpartition("/")
    app_id = app_id or state.app_id
    target = env.resolve(app_id, function_id)
    if target is None:
        error = ErrorInfo(
            name="FunctionNotFound",
            message=f"step.invoke: no function {app_id}/{function_id} is registered",
            code=ErrorCode.FUNCTION_NOT_FOUND,
            retryable=False,
        )
        return record(state, effects, StepRecord(id=op.id, error=error))
    child = derived_id("invoke", state.run_id, op.id)
    data = op.opts.get("data")
    event: dict[str, Any] = {
        "name": target.config.invoked_event_name() if target.config else INVOKED_EVENT,
        "id": child,
        "ts": env.now,
        "data": data if isinstance(data, dict) else {},
    }
    effects.commands.append(
        StartRun(
            run_id=child,
            app_id=app_id,
            function_id=function_id,
            event=event,
            parent=ParentLink(run_id=state.run_id, step_id=op.id),
        )
    )
    state.pending[op.id] = Pending(op="invoke", child=child)
    timeout = op.opts.get("timeout")
    if timeout is not None:
        set_timer(state, _step_timer(op.id), env.now + _ms(timeout))
    effects.history.append(
        history(
            state,
            "step.invoking",
            step_id=op.id,
            data={"function": f"{app_id}/{function_id}", "run_id": child},
        )
    )
    return False


def arm_function_limits(
    state: RunState, effects: Effects, config: FunctionConfig, now: int
) -> None:
    """At start: the start and finish timeouts, and one wait per cancel_on."""
    timeouts = config.timeouts
    if timeouts is not None:
        if timeouts.start is not None:
            state.start_by = now + _ms(timeouts.start)
        if timeouts.finish is not None:
            set_timer(state, "finish", now + _ms(timeouts.finish))
    since = state.accepted_at if state.accepted_at is not None else state.created_at
    for index, rule in enumerate(config.cancel_on):
        name = f"cancel:{index}"
        expires = now + (_ms(rule.timeout) if rule.timeout is not None else FOREVER_MS)
        key = _open_wait(
            state,
            effects,
            step_id=name,
            event_name=rule.event,
            match=rule.match,
            expression=rule.if_,
            since=since,
            expires=expires,
        )
        if key is None:
            continue
        state.cancel_waits[name] = key
        if rule.timeout is not None:
            set_timer(state, name, expires)


def _open_wait(
    state: RunState,
    effects: Effects,
    *,
    step_id: str,
    event_name: str,
    match: str | None,
    expression: str | None,
    since: int,
    expires: int,
) -> str | None:
    """Put a wait in the index; its key, or None when no event can ever match it."""
    if match:
        value = value_at(state.event, match)
        if not indexable(value):
            return None
        key = wait_key(event_name, match, value)
    else:
        key = unindexed_key(event_name)
    effects.waits.append(
        WaitOpen(
            key=key,
            run_id=state.run_id,
            step_id=step_id,
            event_name=event_name,
            path=match or "",
            since=since,
            expires=expires,
            expression=expression,
            trigger=state.event if expression else None,
        )
    )
    return key


# -- what resolves a pending step -------------------------------------------------


def fire_timers(state: RunState, at: int, env: Env) -> Effects:
    """Fire every timer due at ``at`` (a Wake); nothing if none is due any more."""
    effects = Effects(state)
    fired = False
    progress = False
    for name, due in sorted(state.timers.items(), key=lambda item: item[1]):
        if due > at or state.status in FINAL:
            continue
        del state.timers[name]
        fired = True
        if name == "finish":
            seconds = (due - state.created_at) / 1000
            message = f"the run did not finish within {seconds:g}s (timeouts.finish)"
            cancel(state, effects, message, ErrorCode.FUNCTION_TIMEOUT)
        elif name.startswith("cancel:"):
            key = state.cancel_waits.pop(name, None)
            if key is not None:
                effects.waits.append(WaitClose(key=key, run_id=state.run_id, step_id=name))
        elif name.startswith("retry:"):
            retry = state.retrying.pop(name, None)
            if retry is not None:
                emit_task(state, effects, target=retry.target, now=env.now, attempt=retry.attempt)
        else:
            progress |= _step_timed_out(state, effects, name.removeprefix("step:"))
    if not fired:
        return Effects(state, changed=False)
    continue_run(state, effects, progress, env.now)
    return effects


def _step_timed_out(state: RunState, effects: Effects, step_id: str) -> bool:
    pending = state.pending.pop(step_id, None)
    if pending is None:
        return False
    if pending.op == "sleep":
        return record(state, effects, StepRecord(id=step_id))
    if pending.op == "wait":
        if pending.key is not None:
            effects.waits.append(WaitClose(key=pending.key, run_id=state.run_id, step_id=step_id))
        return record(state, effects, StepRecord(id=step_id, data=None))
    if pending.child is not None:
        reason = f"step {step_id!r} of run {state.run_id} that invoked it timed out"
        effects.commands.append(CancelRun(run_id=pending.child, reason=reason))
    error = ErrorInfo(
        name="InvokeTimeout",
        message=f"the invoked run {pending.child} did not finish in time",
        code=ErrorCode.INVOKE_TIMEOUT,
        retryable=False,
    )
    return record(state, effects, StepRecord(id=step_id, error=error))


def resolve_wait(state: RunState, command: WaitResolved, env: Env) -> Effects:
    """An event matched a wait of the run (the wait index removed the entry already)."""
    step_id = command.step_id
    effects = Effects(state)
    if step_id.startswith("cancel:"):
        if state.cancel_waits.pop(step_id, None) is None:
            return Effects(state, changed=False)
        state.timers.pop(step_id, None)
        event = command.event
        reason = f"cancelled by event {event.get('name')} {event.get('id')} (cancel_on)"
        cancel(state, effects, reason, ErrorCode.CANCELLED_BY_EVENT)
        return effects
    pending = state.pending.get(step_id)
    if pending is None or pending.op != "wait":
        return Effects(state, changed=False)
    del state.pending[step_id]
    state.timers.pop(_step_timer(step_id), None)
    progress = record(state, effects, StepRecord(id=step_id, data=command.event))
    continue_run(state, effects, progress, env.now)
    return effects


def child_ended(state: RunState, command: ChildEnded, env: Env) -> Effects:
    """A run this one invoked ended: its output (or its error) is the step's result."""
    pending = state.pending.get(command.step_id)
    if pending is None or pending.child != command.child_run_id:
        return Effects(state, changed=False)
    del state.pending[command.step_id]
    state.timers.pop(_step_timer(command.step_id), None)
    effects = Effects(state)
    if command.error is not None:
        error = ErrorInfo(
            name="InvokeFailed",
            message=f"the invoked run {command.child_run_id} ended: {command.error.message}",
            code=ErrorCode.INVOKE_FAILED,
            retryable=False,
        )
        step = StepRecord(id=command.step_id, error=error)
    else:
        step = StepRecord(id=command.step_id, data=command.output)
    progress = record(state, effects, step)
    continue_run(state, effects, progress, env.now)
    return effects


def _step_timer(step_id: str) -> str:
    return f"step:{step_id}"


def _ms(seconds: object) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError(f"{seconds!r} is not a number of seconds")
    return int(seconds * 1000)
