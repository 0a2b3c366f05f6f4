"""The run state machine: pure functions from (state, command) to (state, effects).

Kept free of Kafka and Faust so every transition is unit-tested directly;
services/router/app.py only loads the state, calls :func:`start_run` or
:func:`apply_outcome`, stores the new state and emits the effects.

Idempotence is what makes at-least-once delivery safe here:
- a run id is derived from (event id, app, function), so an event read twice
  starts the run once (the second start finds the state and does nothing);
- every task has a sequence number and the state lists the open ones, so a
  duplicate or stale outcome is ignored;
- a step that has a record is never recorded again (first result wins), so a
  result is never replaced and never given to another step id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from services.common.records import HistoryRecord, StartRun, Task, TaskDone, TaskOutcome, now_ms
from weir.functions.config import FUNCTION_FAILED_EVENT
from weir.functions.protocol import (
    CompleteResponse,
    ErrorInfo,
    FailedResponse,
    PlannedResponse,
    StepOp,
    StepRecord,
    StepResponse,
)

RUN_ID_NAMESPACE = uuid.UUID("5d1c0a52-4f0e-4a55-9a3c-3f6e2b7c9e11")
RunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
FINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


def run_id_for(event_id: str, app_id: str, function_id: str) -> str:
    """The one run an event starts for a function: the same inputs give the same id."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, f"{event_id}\x00{app_id}\x00{function_id}"))


class RunState(BaseModel):
    """Everything the router keeps about one run (the value of its runs table)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    app_id: str
    function_id: str
    url: str
    retries: int
    event: dict[str, Any]
    status: RunStatus = "queued"
    steps: list[StepRecord] = Field(default_factory=list)
    next_seq: int = 0
    # seq -> the step a targeted task executes (None: a plain replay call).
    open: dict[int, str | None] = Field(default_factory=dict)
    output: JsonValue = None
    error: ErrorInfo | None = None
    created_at: int = Field(default_factory=now_ms)
    ended_at: int | None = None

    @property
    def event_id(self) -> str | None:
        value = self.event.get("id")
        return value if isinstance(value, str) else None

    def recorded(self, step_id: str) -> bool:
        return any(record.id == step_id for record in self.steps)


@dataclass
class Effects:
    """What a transition asks the router to write."""

    state: RunState | None
    tasks: list[Task] = field(default_factory=list)
    done: list[TaskDone] = field(default_factory=list)  # fences for the tasks answered
    history: list[HistoryRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    changed: bool = True


def start_run(
    command: StartRun, existing: RunState | None, *, url: str | None, retries: int
) -> Effects:
    """A new run, queued with its first task; nothing if it already exists."""
    if existing is not None:
        return Effects(existing, changed=False)
    state = RunState(
        run_id=command.run_id,
        app_id=command.app_id,
        function_id=command.function_id,
        url=url or "",
        retries=retries,
        event=command.event,
    )
    effects = Effects(state, history=[_history(state, "run.queued")])
    if url is None:
        # The function was unregistered between the match and the start.
        _fail(
            state,
            effects,
            ErrorInfo(
                name="FunctionNotRegistered",
                message=f"{command.app_id}/{command.function_id} is no longer registered",
                code="function_not_found",
                retryable=False,
            ),
        )
        return effects
    _emit_task(state, effects, target=None)
    return effects


def apply_outcome(state: RunState, outcome: TaskOutcome) -> Effects:
    """Fold a worker's outcome into the run and decide what happens next."""
    if state.status in FINAL or outcome.seq not in state.open:
        return Effects(state, changed=False)  # duplicate, stale, or the run is over
    target = state.open.pop(outcome.seq)
    state.status = "running"
    effects = Effects(state, done=[TaskDone(run_id=state.run_id, seq=outcome.seq)])
    response = outcome.response
    for warning in response.warnings:
        effects.history.append(_history(state, "run.warning", warnings=[warning]))

    if isinstance(response, StepResponse):
        _record_step(state, effects, response, outcome.attempts)
    elif isinstance(response, PlannedResponse):
        _plan(state, effects, response.steps)
    elif isinstance(response, CompleteResponse):
        if target is None or not state.open:
            _complete(state, effects, response)
            return effects
    elif isinstance(response, FailedResponse):
        _fail(state, effects, response.error)
        return effects

    if state.status not in FINAL and not state.open:
        _emit_task(state, effects, target=None)
    return effects


# -- pieces of a transition ------------------------------------------------------


def _record_step(state: RunState, effects: Effects, response: StepResponse, attempts: int) -> None:
    step = response.step
    if state.recorded(step.id):
        return  # first result wins: never replace a recorded step
    state.steps.append(StepRecord(id=step.id, data=step.data, error=step.error))
    kind = "step.failed" if step.error is not None else "step.completed"
    effects.history.append(
        _history(state, kind, step_id=step.id, attempt=attempts, data=step.data, error=step.error)
    )


def _plan(state: RunState, effects: Effects, ops: list[StepOp]) -> None:
    for op in ops:
        if state.recorded(op.id) or op.id in state.open.values():
            continue
        if op.op == "run":
            effects.history.append(_history(state, "step.planned", step_id=op.id))
            _emit_task(state, effects, target=op.id)
        elif op.op == "send_event":
            given = op.opts.get("events")
            events = [e for e in given if isinstance(e, dict)] if isinstance(given, list) else []
            effects.events.extend(events)
            ids = [e.get("id") for e in events]
            state.steps.append(StepRecord(id=op.id, data={"ids": ids}))
            effects.history.append(
                _history(state, "step.completed", step_id=op.id, data={"ids": ids})
            )
        else:
            # sleep and wait_for_event need the router's timers and waits,
            # which are not built yet: the step fails for good, visibly.
            error = ErrorInfo(
                name="UnsupportedStep",
                message=f"step.{op.op} is not supported by this platform version yet",
                code="step_unsupported",
                retryable=False,
            )
            state.steps.append(StepRecord(id=op.id, error=error))
            effects.history.append(_history(state, "step.failed", step_id=op.id, error=error))


def _complete(state: RunState, effects: Effects, response: CompleteResponse) -> None:
    state.status = "completed"
    state.output = response.output
    state.ended_at = now_ms()
    state.open.clear()
    effects.history.append(_history(state, "run.completed", data=response.output))


def _fail(state: RunState, effects: Effects, error: ErrorInfo) -> None:
    state.status = "failed"
    state.error = error
    state.ended_at = now_ms()
    state.open.clear()
    effects.history.append(_history(state, "run.failed", error=error))
    effects.events.append(
        {
            "name": FUNCTION_FAILED_EVENT,
            # One failure event per run, even if this transition is replayed.
            "id": str(uuid.uuid5(RUN_ID_NAMESPACE, f"failed\x00{state.run_id}")),
            "data": {
                "app_id": state.app_id,
                "function_id": state.function_id,
                "run_id": state.run_id,
                "error": error.model_dump(mode="json"),
                "event": state.event,
            },
        }
    )


def _emit_task(state: RunState, effects: Effects, *, target: str | None) -> None:
    seq = state.next_seq
    state.next_seq += 1
    state.open[seq] = target
    effects.tasks.append(
        Task(
            run_id=state.run_id,
            seq=seq,
            app_id=state.app_id,
            function_id=state.function_id,
            url=state.url,
            retries=state.retries,
            target_step=target,
            event=state.event,
            steps=list(state.steps),
        )
    )


def _history(state: RunState, kind: Any, **fields: Any) -> HistoryRecord:
    return HistoryRecord(
        type=kind,
        run_id=state.run_id,
        app_id=state.app_id,
        function_id=state.function_id,
        event_id=state.event_id,
        **fields,
    )
