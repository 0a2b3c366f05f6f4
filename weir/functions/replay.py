"""The state of one call's replay: what is recorded, what the handler reached, what ran.

A call replays the handler from the top. Each step the handler reaches is
either *recorded* (its result comes from the request and returns at once) or
*new*. The replay stops at new steps: it executes one (and reports its
result) or reports them all as planned. A step executed successfully may
instead let the call go on (the function's checkpoint): it is kept as
*done*, memoized like a recorded step, and the handler continues. :class:`Replay` keeps that
bookkeeping and the run's limits; :mod:`weir.functions.step` is the API the
handler calls, :mod:`weir.functions.execute` drives the handler.

Memoization is strictly by step id: a recorded result is only ever returned
to the step with that id. When a deploy changes the code under a running
run, recorded ids the code still reaches keep their results, new ids
execute, and a warning tells the run history that the order changed.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from weir.errors import (
    RunStateTooLargeError,
    StepError,
    StepNestingError,
    StepOutputTooLargeError,
    TooManyStepsError,
)
from weir.functions.checkpoint import Checkpoint
from weir.functions.interrupt import StepInterrupt
from weir.functions.limits import Limits
from weir.functions.protocol import (
    CallRequest,
    DoneStep,
    RunWarning,
    StepOp,
    StepRecord,
    StepResult,
)
from weir.functions.serialization import json_size
from weir.functions.step_ids import StepIds

# Set while a step's own function runs, in that function's context only, so a
# step call made from inside it (nesting) is told apart from a parallel branch.
_executing_step: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "weir_executing_step", default=None
)


@dataclass
class Reached:
    """A new step the handler is waiting at, with the future that releases it (async)."""

    op: StepOp
    release: asyncio.Future[None] | None = None


@dataclass
class Replay:
    request: CallRequest
    limits: Limits
    checkpoint: Checkpoint = field(default_factory=Checkpoint)
    records: dict[str, StepRecord] = field(init=False)
    positions: dict[str, int] = field(init=False)
    ids: StepIds = field(default_factory=StepIds)
    claimed: int = 0
    visited: set[str] = field(default_factory=set)
    reached: list[Reached] = field(default_factory=list)
    warnings: list[RunWarning] = field(default_factory=list)
    result: StepResult | None = None
    fatal: Exception | None = None
    stopped: bool = False
    planned: bool = False
    aborted: bool = False
    target_reached: bool = False
    execution: asyncio.Future[None] | None = None
    changed: asyncio.Event | None = None
    done: list[DoneStep] = field(default_factory=list)  # executed, then the call went on
    on_done: Callable[[], None] | None = None  # told when the call goes on past a step
    step_seconds: float = 0.0  # how long the executed steps' functions ran, in all
    _step_began: float = 0.0
    _last_position: dict[Hashable, int] = field(default_factory=dict)
    _state_bytes: int | None = None

    def __post_init__(self) -> None:
        self.records = {record.id: record for record in self.request.steps}
        self.positions = {record.id: i for i, record in enumerate(self.request.steps)}

    @property
    def target(self) -> str | None:
        return self.request.target_step

    @property
    def replaying(self) -> bool:
        """True until every recorded step has been reached again (logs stay quiet)."""
        return len(self.visited) < len(self.records) and self.result is None

    # -- claiming ids and recalling records -----------------------------------

    def claim(self, name: str, flow: Hashable) -> str:
        """The deterministic id of the next step called ``name``; enforces limits."""
        if self.stopped:
            raise StepInterrupt("the call has already stopped")
        if _executing_step.get() is not None:
            raise StepNestingError(
                f"step {name!r} was called inside step {_executing_step.get()!r}; "
                "steps cannot nest: call it from the handler instead"
            )
        step_id = self.ids.next(name)
        self.claimed += 1
        if self.claimed > self.limits.steps_per_run:
            self.fatal = TooManyStepsError(
                f"the run reached more than {self.limits.steps_per_run} steps "
                f"(step {step_id!r}); split the work across runs (e.g. send events)",
                detail={"limit": self.limits.steps_per_run},
            )
            self.stopped = True
            raise self.fatal
        self._check_order(step_id, flow)
        return step_id

    def recall(self, step_id: str) -> StepRecord | None:
        """The record of ``step_id``, marking it reached; None for a new step."""
        record = self.records.get(step_id)
        if record is not None:
            self.visited.add(step_id)
        return record

    def _check_order(self, step_id: str, flow: Hashable) -> None:
        # Within one flow of control (one task, or the sync handler) steps are
        # sequential, so they must come back in the order they were recorded.
        # Parallel branches are separate flows and may be recorded in any order.
        position = self.positions.get(step_id)
        if position is None:
            return
        last = self._last_position.get(flow, -1)
        if position < last:
            self.warn(
                "steps_reordered",
                f"step {step_id!r} was recorded before a step the code now runs ahead of it; "
                "the code changed under this run (results stay with their step ids)",
            )
        self._last_position[flow] = max(last, position)

    def warn(self, code: Any, message: str) -> None:
        if all(existing.code != code for existing in self.warnings):
            self.warnings.append(RunWarning(code=code, message=message))

    def check_all_reached(self) -> None:
        """Warn when recorded steps were not reached: the code no longer has them (here)."""
        missing = [step_id for step_id in self.records if step_id not in self.visited]
        if missing:
            shown = ", ".join(repr(step_id) for step_id in missing[:10])
            self.warn(
                "steps_not_reached",
                f"recorded step(s) {shown} were not reached before new work; "
                "the code changed under this run",
            )

    # -- executing one step ---------------------------------------------------

    def check_output(self, data: Any) -> None:
        """Raise when ``data`` breaks the step output or run state limit."""
        size = json_size(data)
        if size > self.limits.step_output_bytes:
            raise StepOutputTooLargeError(
                f"step output is {size} bytes, over the {self.limits.step_output_bytes}-byte "
                "limit; store large data elsewhere and return a reference",
                detail={"size": size, "limit": self.limits.step_output_bytes},
            )
        if self._state_bytes is None:
            self._state_bytes = sum(
                json_size(record.model_dump(mode="json")) for record in self.request.steps
            )
        total = self._state_bytes + size
        if total > self.limits.run_state_bytes:
            raise RunStateTooLargeError(
                f"recording this step would make the run's state {total} bytes, over the "
                f"{self.limits.run_state_bytes}-byte limit",
                detail={"size": total, "limit": self.limits.run_state_bytes},
            )

    def begin_execution(self, step_id: str) -> contextvars.Token[str | None]:
        self._step_began = time.perf_counter()
        return _executing_step.set(step_id)

    def end_execution(
        self, token: contextvars.Token[str | None], result: StepResult | None
    ) -> bool:
        """The step finished (``result``) or was aborted by a BaseException (None).

        True when the call goes on: the step succeeded, the call is not
        targeted and the checkpoint allows another step, so its result is
        kept as done (and memoized) and the handler continues. Otherwise the
        call stops with this step's answer.
        """
        _executing_step.reset(token)
        self.step_seconds += time.perf_counter() - self._step_began
        execution, self.execution = self.execution, None
        goes_on = (
            result is not None
            and result.error is None
            and self.target is None
            and self.checkpoint.goes_on(len(self.done) + 1, self.step_seconds)
        )
        if goes_on:
            assert result is not None
            self._keep_done(result)
        else:
            self.result = result
            self.aborted = result is None
            self.stopped = True
        if execution is not None and not execution.done():
            execution.set_result(None)
        return goes_on

    def _keep_done(self, result: StepResult) -> None:
        self.done.append(DoneStep(id=result.id, name=result.name, data=result.data))
        self.records[result.id] = StepRecord(id=result.id, data=result.data)
        self.visited.add(result.id)
        self.reached.clear()
        if self._state_bytes is not None:
            self._state_bytes += json_size(self.records[result.id].model_dump(mode="json"))
        if self.on_done is not None:
            self.on_done()

    # -- stopping -------------------------------------------------------------

    def stop(self) -> None:
        """End the call: every step still waiting raises StepInterrupt in the handler."""
        self.stopped = True
        for reached in self.reached:
            if reached.release is not None and not reached.release.done():
                reached.release.set_exception(StepInterrupt("the call stopped"))

    def plan(self) -> None:
        """End the call by reporting every new step reached, none executed."""
        self.planned = True
        self.stop()

    def pending_ops(self) -> list[StepOp]:
        return [reached.op for reached in self.reached]


def step_error(record: StepRecord) -> StepError:
    """The StepError a failed record raises where the handler awaits that step."""
    assert record.error is not None
    error = record.error
    return StepError(
        f"step {record.id!r} failed: {error.name}: {error.message}",
        step_id=record.id,
        error_name=error.name,
        stack=error.stack,
        error_code=error.code,
    )
