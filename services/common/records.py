"""The Kafka records of the platform's own topics (JSON, validated by these models).

    functions    key app id     AppRegistration (compacted; a tombstone removes the app)
    results      key run id     RunCommand: start a run, a worker's outcome of a task, a
                                timer wake-up, a resolved wait, a cancellation, a child's end
    fn.<app.fn>  key run id     Task: call the app for this run (the whole run state inside)
    runs         key run id     HistoryRecord: the run's lifecycle, for the run API
    waits        key wait key   WaitCommand: the wait index (open, close, probe, sweep)
    wait-paths   key name+path  compacted: the (event name, match path) pairs waits use

Every record of one run is keyed by its run id, so the router's run table,
the results topic and the runs topic are co-partitioned, and a run's tasks
stay ordered in one partition of its function's topic.

Internal records are JSON (the event log itself is Avro): they are read only
by Weir's own services, change with them, and JSON keeps them readable with
any console consumer while debugging a run. Each carries ``v`` so a reader
can refuse a record from a newer platform instead of misreading it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter

from weir.functions.protocol import (
    CompleteResponse,
    DoneStep,
    ErrorInfo,
    FailedResponse,
    PlannedResponse,
    RunWarning,
    StepRecord,
    StepResponse,
)

RECORD_VERSION = 1


def now_ms() -> int:
    return int(time.time() * 1000)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: int = RECORD_VERSION


# -- results topic: commands to the router's run state machine -----------------


class ParentLink(_Record):
    """The step of another run that invoked this run and waits for its end."""

    run_id: str
    step_id: str


class StartRun(_Record):
    """Start one run of one function for one event (idempotent by run id)."""

    kind: Literal["start"] = "start"
    run_id: str
    app_id: str
    function_id: str
    event: dict[str, Any]
    parent: ParentLink | None = None
    accepted_at: int | None = Field(
        default=None, description="ms: when the event was written to Kafka (its timestamp)."
    )
    ts: int = Field(default_factory=now_ms)


class StepDone(_Record):
    """A step some call of the task finished on its way (a checkpoint of several steps)."""

    step: DoneStep
    attempts: int = Field(ge=1, description="Calls it took, the one that finished it included.")


class RetryLater(_Record):
    """The task's call failed and may be tried again, but not before ``at``.

    A delay longer than the worker's ``retry_hold_seconds`` is handed to the
    router: it records nothing of the failed call but the steps it finished,
    and writes the same call again as a new task when the timer is due.
    """

    at: int = Field(description="ms: when the next attempt may start.")
    attempt: int = Field(ge=1, description="The next attempt's number (0 was the first call).")


class TaskOutcome(_Record):
    """A worker's answer to one task, after its own retries (final unless ``retry``)."""

    kind: Literal["outcome"] = "outcome"
    run_id: str
    seq: int = Field(description="The task's seq: the router ignores outcomes of old tasks.")
    target_step: str | None = None
    done: list[StepDone] = Field(
        default_factory=list,
        description="Steps finished before the response, in order: recorded first. "
        "The response's own 'done' is empty: these are every call's, gathered.",
    )
    attempts: int = Field(
        ge=1, description="Calls the worker made for the response's unit of work."
    )
    response: CompleteResponse | StepResponse | PlannedResponse | FailedResponse = Field(
        discriminator="outcome"
    )
    retry: RetryLater | None = Field(
        default=None,
        description="Set when the response is a retryable error to try again later: the "
        "router then schedules the same call instead of recording the error.",
    )
    ts: int = Field(default_factory=now_ms)


class Wake(_Record):
    """A timer of the run is due: fire every timer of its state due at ``at`` (idempotent)."""

    kind: Literal["wake"] = "wake"
    run_id: str
    at: int


class WaitResolved(_Record):
    """An event matched one of the run's waits (a wait step, or a cancel_on)."""

    kind: Literal["resolved"] = "resolved"
    run_id: str
    step_id: str
    event: dict[str, Any]


class CancelRun(_Record):
    """Cancel the run (an invoking step timed out, or an operator asked)."""

    kind: Literal["cancel"] = "cancel"
    run_id: str
    reason: str
    code: str = "run_cancelled"  # an ErrorCode


class ChildEnded(_Record):
    """A run started by ``step.invoke`` ended: record the invoking step."""

    kind: Literal["child"] = "child"
    run_id: str = Field(description="The parent run.")
    step_id: str
    child_run_id: str
    output: JsonValue = None
    error: ErrorInfo | None = None


Command = StartRun | TaskOutcome | Wake | WaitResolved | CancelRun | ChildEnded
RunCommand = Annotated[Command, Field(discriminator="kind")]
run_command_adapter: TypeAdapter[Command] = TypeAdapter(RunCommand)


# -- per-function task topics ---------------------------------------------------


class Task(_Record):
    """Call the app once for this run; the worker retries the call as needed."""

    kind: Literal["task"] = "task"
    run_id: str
    seq: int = Field(description="Increases with every task the router emits for the run.")
    app_id: str
    function_id: str
    url: str = Field(description="The app endpoint at the time the task was emitted.")
    retries: int = Field(ge=0, description="Retries allowed after the first attempt.")
    target_step: str | None = None
    event: dict[str, Any]
    steps: list[StepRecord] = Field(default_factory=list)
    emitted_at: int = Field(default_factory=now_ms)
    start_by: int | None = Field(
        default=None, description="The run's start timeout (ms): past it, do not call the app."
    )
    attempt: int = Field(
        default=0,
        ge=0,
        description="The number of the task's first call: above 0 when the router writes a "
        "call again after a retry delay it kept (retries left: retries - attempt).",
    )


class TaskDone(_Record):
    """The router recorded the outcome of task ``seq``: a copy of it is stale.

    Written to the task's own partition (same topic, same key) after the
    outcome is recorded, so a worker that reads the partition again after a
    crash or a rebalance sees, after a task, whether it is still to be done.
    A worker never executes a task it has seen a TaskDone for: a step whose
    result has been recorded is never executed again.
    """

    kind: Literal["done"] = "done"
    run_id: str
    seq: int


TaskRecord = Annotated[Task | TaskDone, Field(discriminator="kind")]
task_record_adapter: TypeAdapter[Task | TaskDone] = TypeAdapter(TaskRecord)


# -- runs topic: history --------------------------------------------------------

HistoryType = Literal[
    "run.queued",
    "run.started",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "run.warning",
    "step.started",
    "step.completed",
    "step.failed",
    "step.retrying",
    "step.planned",
    "step.sleeping",
    "step.waiting",
    "step.invoking",
]


class HistoryRecord(_Record):
    """One line of a run's history; the run API folds them into a run's JSON."""

    type: HistoryType
    run_id: str
    app_id: str
    function_id: str
    event_id: str | None = None
    step_id: str | None = None
    attempt: int | None = None
    data: JsonValue = None
    error: ErrorInfo | None = None
    warnings: list[RunWarning] = Field(default_factory=list)
    ts: int = Field(default_factory=now_ms)


# -- waits topic: the wait index, keyed by wait key ------------------------------


class WaitOpen(_Record):
    """A run waits for an event with this key; events since ``since`` count."""

    kind: Literal["open"] = "open"
    key: str
    run_id: str
    step_id: str = Field(description="The wait step, or 'cancel:<i>' for a cancel_on.")
    event_name: str
    path: str = Field(description="The match path ('' when the wait has none).")
    since: int = Field(description="ms: events accepted from this time on resume the wait.")
    expires: int = Field(description="ms: the run's own timer resolves the wait by then.")
    expression: str | None = Field(default=None, description="CEL over event and async.")
    trigger: dict[str, Any] | None = Field(
        default=None, description="The run's trigger event (only when an expression needs it)."
    )


class WaitClose(_Record):
    """The wait is over (timed out, or the run ended): drop it from the index."""

    kind: Literal["close"] = "close"
    key: str
    run_id: str
    step_id: str


class Probe(_Record):
    """An event that may resume the waits under ``key``."""

    kind: Literal["probe"] = "probe"
    key: str
    event: dict[str, Any]
    ts: int = Field(description="ms: when the event was written to Kafka (its timestamp).")


class Sweep(_Record):
    """Forget the key's remembered events that are past the look-back window."""

    kind: Literal["sweep"] = "sweep"
    key: str


WaitCommand = WaitOpen | WaitClose | Probe | Sweep
wait_command_adapter: TypeAdapter[WaitCommand] = TypeAdapter(
    Annotated[WaitCommand, Field(discriminator="kind")]
)


def dumps(record: BaseModel) -> bytes:
    return record.model_dump_json(exclude_defaults=False).encode()
