"""A run's state as the router stores it, and the small moves every transition shares.

services/router/machine.py folds commands into a :class:`RunState`;
services/router/suspend.py handles the steps the platform itself carries out.
Both build their answer as :class:`Effects`, which the router writes to Kafka
(and has acknowledged) before it stores the state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from services.common.partitions import partition_for
from services.common.records import (
    CancelRun,
    ChildEnded,
    Command,
    HistoryRecord,
    ParentLink,
    Task,
    TaskDone,
    WaitClose,
    WaitOpen,
    now_ms,
)
from weir.errors import ErrorCode
from weir.functions.config import FUNCTION_FAILED_EVENT, FunctionConfig
from weir.functions.protocol import ErrorInfo, StepOp, StepRecord

RUN_ID_NAMESPACE = uuid.UUID("5d1c0a52-4f0e-4a55-9a3c-3f6e2b7c9e11")
RunStatus = Literal["queued", "running", "sleeping", "waiting", "completed", "failed", "cancelled"]
FINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
# A worker answers a task past the run's start timeout with this error code.
START_TIMEOUT_CODE = ErrorCode.FUNCTION_START_TIMEOUT


def derived_id(*parts: str) -> str:
    """A stable id from its parts: same parts, same id (runs, child runs, events)."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, "\x00".join(parts)))


def run_id_for(
    event_id: str, app_id: str, function_id: str, *, home: tuple[int, int] | None = None
) -> str:
    """The one run an event starts for a function: the same inputs give the same id.

    ``home`` is (partition, partition count): the id is then the first of a
    fixed series of candidates whose key lands in that partition. The router
    passes the partition it read the event from, so the run's commands (keyed
    by run id) arrive where the router already is, and it starts the run
    without a trip through the results topic. About ``count`` candidates are
    hashed on average, microseconds each.
    """
    run_id = derived_id(event_id, app_id, function_id)
    if home is None:
        return run_id
    partition, count = home
    if not 0 <= partition < count:
        raise ValueError(f"partition {partition} is not one of {count}")
    salt = 0
    while partition_for(run_id.encode(), count) != partition:
        salt += 1
        run_id = derived_id(event_id, app_id, function_id, str(salt))
    return run_id


class Pending(BaseModel):
    """A step the platform carries out: the run waits for its timer, event or child."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["sleep", "wait", "invoke"]
    key: str | None = None  # wait: its key in the wait index (None: it can never match)
    child: str | None = None  # invoke: the child run


class Retry(BaseModel):
    """A call to write again when its timer is due (a retry delay the worker handed over)."""

    model_config = ConfigDict(extra="forbid")

    target: str | None  # the failed task's target step (None: a plain call)
    attempt: int


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
    # seq -> when the task was emitted (a wait counts events from then on).
    task_at: dict[int, int] = Field(default_factory=dict)
    pending: dict[str, Pending] = Field(default_factory=dict)
    # name -> due (ms): "step:<id>" (sleep, wait or invoke timeout), "cancel:<i>",
    # "retry:<seq>", "finish".
    timers: dict[str, int] = Field(default_factory=dict)
    # Whether the run ever had a timer: the router keeps the timers table in step
    # only for such runs (one table read per command saved for all others).
    timed: bool = False
    # "retry:<seq>" -> the call to write again when that timer is due.
    retrying: dict[str, Retry] = Field(default_factory=dict)
    # "cancel:<i>" -> the wait key of the function's i-th cancel_on.
    cancel_waits: dict[str, str] = Field(default_factory=dict)
    parent: ParentLink | None = None
    # When the trigger was written to Kafka (cancel_on counts events from then on).
    accepted_at: int | None = None
    start_by: int | None = None
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

    def next_due(self) -> int | None:
        return min(self.timers.values()) if self.timers else None


@dataclass(frozen=True)
class Target:
    """A registered function as a run needs it."""

    url: str
    retries: int
    config: FunctionConfig | None = None


@dataclass(frozen=True)
class Env:
    """What a transition may look at besides the state: the clock and the registrations."""

    now: int
    resolve: Callable[[str, str], Target | None] = lambda _app, _fn: None


@dataclass
class Effects:
    """What a transition asks the router to write."""

    state: RunState | None
    tasks: list[Task] = field(default_factory=list)
    done: list[TaskDone] = field(default_factory=list)  # fences for the tasks answered
    history: list[HistoryRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    waits: list[WaitOpen | WaitClose] = field(default_factory=list)  # to the wait index
    commands: list[Command] = field(default_factory=list)  # to other runs (children, parents)
    changed: bool = True


def continue_run(state: RunState, effects: Effects, progress: bool, now: int) -> None:
    """Call the app again when it can get further: nothing is in flight, and either no
    step is pending or something was just recorded (a parallel branch may go on).
    A call waiting for its retry delay counts as in flight."""
    if state.status in FINAL or state.open or state.retrying:
        return
    if not state.pending or progress:
        emit_task(state, effects, target=None, now=now)
    else:
        waiting = any(p.op != "sleep" for p in state.pending.values())
        state.status = "waiting" if waiting else "sleeping"


def record(state: RunState, effects: Effects, step: StepRecord, attempt: int | None = None) -> bool:
    """Record a step's result once; False if it already had one (first result wins)."""
    if state.recorded(step.id):
        return False
    state.steps.append(step)
    kind = "step.failed" if step.error is not None else "step.completed"
    effects.history.append(
        history(state, kind, step_id=step.id, attempt=attempt, data=step.data, error=step.error)
    )
    return True


def end_run(
    state: RunState,
    effects: Effects,
    status: Literal["completed", "failed", "cancelled"],
    *,
    output: JsonValue = None,
    error: ErrorInfo | None = None,
) -> None:
    """Finish the run: let go of its waits, timers and children, tell its parent."""
    state.status = status
    state.output = output
    state.error = error
    state.ended_at = now_ms()
    # A cancelled run's tasks in flight are fenced, so a worker skips them.
    effects.done += [TaskDone(run_id=state.run_id, seq=seq) for seq in state.open]
    state.open.clear()
    state.task_at.clear()
    release(state, effects)
    kind = {"completed": "run.completed", "failed": "run.failed", "cancelled": "run.cancelled"}
    effects.history.append(
        history(state, kind[status], data=output if status == "completed" else None, error=error)
    )
    if state.parent is not None:
        effects.commands.append(
            ChildEnded(
                run_id=state.parent.run_id,
                step_id=state.parent.step_id,
                child_run_id=state.run_id,
                output=output,
                error=error,
            )
        )
    if status == "failed" and error is not None:
        effects.events.append(_failure_event(state, error))


def cancel(state: RunState, effects: Effects, reason: str, code: str) -> None:
    error = ErrorInfo(name="RunCancelled", message=reason, code=code, retryable=False)
    end_run(state, effects, "cancelled", error=error)


def _failure_event(state: RunState, error: ErrorInfo) -> dict[str, Any]:
    return {
        "name": FUNCTION_FAILED_EVENT,
        # One failure event per run, even if this transition is replayed.
        "id": derived_id("failed", state.run_id),
        "data": {
            "app_id": state.app_id,
            "function_id": state.function_id,
            "run_id": state.run_id,
            "error": error.model_dump(mode="json"),
            "event": state.event,
        },
    }


def emit_task(
    state: RunState, effects: Effects, *, target: str | None, now: int, attempt: int = 0
) -> None:
    seq = state.next_seq
    state.next_seq += 1
    state.open[seq] = target
    state.task_at[seq] = now
    if state.status != "queued":  # a queued run stays queued until its first outcome
        state.status = "running"
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
            emitted_at=now,
            start_by=state.start_by if seq == 0 else None,
            attempt=attempt,
        )
    )


def history(state: RunState, kind: Any, **fields: Any) -> HistoryRecord:
    return HistoryRecord(
        type=kind,
        run_id=state.run_id,
        app_id=state.app_id,
        function_id=state.function_id,
        event_id=state.event_id,
        **fields,
    )


def plan_run_step(state: RunState, effects: Effects, op: StepOp, now: int) -> None:
    effects.history.append(history(state, "step.planned", step_id=op.id))
    emit_task(state, effects, target=op.id, now=now)


def set_timer(state: RunState, name: str, due: int) -> None:
    state.timers[name] = due
    state.timed = True


def release(state: RunState, effects: Effects) -> None:
    """Let go of what a run holds outside its state: index entries, timers, child runs."""
    for step_id, pending in state.pending.items():
        if pending.op == "wait" and pending.key is not None:
            effects.waits.append(WaitClose(key=pending.key, run_id=state.run_id, step_id=step_id))
        elif pending.op == "invoke" and pending.child is not None:
            reason = f"the run {state.run_id} that invoked it ended ({state.status})"
            effects.commands.append(CancelRun(run_id=pending.child, reason=reason))
    for name, key in state.cancel_waits.items():
        effects.waits.append(WaitClose(key=key, run_id=state.run_id, step_id=name))
    state.pending.clear()
    state.cancel_waits.clear()
    state.retrying.clear()
    state.timers.clear()
