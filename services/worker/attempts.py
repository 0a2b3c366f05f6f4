"""One task from start to final answer: the call, its retries and their delays.

A task is one unit of work of one run (docs/protocol.md §7.2): the worker
calls the app with ``run.attempt`` 0, and repeats the *same* call with
``attempt + 1`` while the answer is a retryable error and the task's
``retries`` are not spent:

- a transport failure (:mod:`services.worker.calls`),
- a ``failed`` answer whose error is retryable,
- a ``step`` answer whose step has a retryable error.

Before attempt ``n`` it waits ``retry_delay(n)``: the jittered, growing
schedule of :mod:`weir.functions.retry`, or exactly the ``retry_after`` the
app asked for. A non-retryable error ends the task at once. The last answer
is the task's outcome as it is; a transport failure becomes a ``failed``
answer carrying its error, so the run fails with a code saying why.

An answer may list steps its call finished before the rest (``done``, a
checkpoint of several steps). They are progress: the worker keeps them for
the outcome, adds them to the memo of any further attempt (so they never run
again in this task), and counts attempts afresh for the unit after them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from services.common.records import (
    HistoryRecord,
    HistoryType,
    RetryLater,
    StepDone,
    Task,
    TaskOutcome,
    now_ms,
)
from services.worker.calls import AppAnswer, AppCaller, CallFailure, error_info
from services.worker.url_policy import UrlPolicy
from weir.errors import AppUnreachableError, AppUrlForbiddenError
from weir.functions.protocol import (
    CallRequest,
    ErrorInfo,
    FailedResponse,
    RunInfo,
    StepRecord,
    StepResponse,
)
from weir.functions.retry import retry_delay

log = logging.getLogger("weir.worker.attempts")


class History(Protocol):
    """Where run history goes; must not block (history is off the critical path)."""

    def emit(self, record: HistoryRecord) -> None: ...


@dataclass(frozen=True, slots=True)
class Execution:
    """A task's outcome and where its time went."""

    outcome: TaskOutcome
    call_seconds: float  # summed over every HTTP exchange of the task
    waited_seconds: float  # summed retry delays
    transport_failures: int


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float
    cap: float
    rng: random.Random | None = None

    def delay(self, attempt: int, error: ErrorInfo) -> float:
        return retry_delay(
            attempt, retry_after=error.retry_after, rng=self.rng, base=self.base, cap=self.cap
        )


def retryable_error(answer: AppAnswer | CallFailure) -> ErrorInfo | None:
    """The error of an answer another attempt may fix (None: the answer is a result)."""
    if isinstance(answer, CallFailure):
        return answer.error
    if isinstance(answer, FailedResponse):
        return answer.error
    if isinstance(answer, StepResponse):
        return answer.step.error
    return None


class TaskRunner:
    """Runs tasks against their apps; ``sleep`` is injectable so tests can skip the waits.

    A retry delay up to ``hold`` seconds is waited out here; a longer one ends
    the task with a ``retry`` outcome, and the router writes the same call
    again when it is due (kept across crashes, and no call slot held).
    """

    def __init__(
        self,
        caller: AppCaller,
        policy: UrlPolicy,
        history: History,
        retry: RetryPolicy,
        *,
        hold: float = float("inf"),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.caller = caller
        self.policy = policy
        self.history = history
        self.retry = retry
        self.hold = hold
        self.sleep = sleep

    async def run(self, task: Task) -> Execution:
        notes = _Notes(task, self.history)
        if task.seq == 0:
            notes.emit("run.started", attempt=0)
        if task.target_step is not None:
            notes.step_started(task.target_step)
        call_seconds = waited = 0.0
        failures = 0
        attempt = task.attempt  # above 0: the router wrote this call again after a delay
        later: RetryLater | None = None
        done: list[StepDone] = []
        memo = task.steps
        while True:
            answer, seconds = await self._attempt(task, attempt, memo)
            call_seconds += seconds
            if isinstance(answer, CallFailure):
                failures += 1
            else:
                if answer.done:
                    # No step.started for these: their step.completed (from the router)
                    # follows at once, and a run is three history records lighter.
                    for index, step in enumerate(answer.done):
                        done.append(StepDone(step=step, attempts=attempt + 1 if index == 0 else 1))
                    memo = memo + [StepRecord(id=s.id, data=s.data) for s in answer.done]
                    attempt = 0  # the unit after them is new
                    answer = answer.model_copy(update={"done": []})
                if isinstance(answer, StepResponse):
                    notes.step_started(answer.step.id)
            error = retryable_error(answer)
            if error is None or not error.retryable or attempt >= task.retries:
                break
            attempt += 1
            delay = self.retry.delay(attempt, error)
            step_id = answer.step.id if isinstance(answer, StepResponse) else task.target_step
            notes.emit(
                "step.retrying",
                step_id=step_id,
                attempt=attempt,
                error=error,
                data={"delay": round(delay, 3)},
            )
            log.warning(
                "run %s fn %s/%s seq %d: attempt %d failed (%s: %s); retry %d/%d in %.2fs%s",
                task.run_id,
                task.app_id,
                task.function_id,
                task.seq,
                attempt - 1,
                error.code or error.name,
                error.message,
                attempt,
                task.retries,
                delay,
                " (the router's timer)" if delay > self.hold else "",
            )
            if delay > self.hold:
                later = RetryLater(at=now_ms() + round(delay * 1000), attempt=attempt)
                break
            await self.sleep(delay)
            waited += delay
        response = FailedResponse(error=answer.error) if isinstance(answer, CallFailure) else answer
        if later is None and isinstance(response, StepResponse) and response.step.error is not None:
            notes.emit(
                "step.failed", step_id=response.step.id, attempt=attempt, error=response.step.error
            )
        outcome = TaskOutcome(
            run_id=task.run_id,
            seq=task.seq,
            target_step=task.target_step,
            done=done,
            # Calls made for the unit of work: a handed-over retry has not made its next one.
            attempts=attempt if later is not None else attempt + 1,
            response=response,
            retry=later,
        )
        return Execution(outcome, call_seconds, waited, failures)

    async def _attempt(
        self, task: Task, attempt: int, memo: list[StepRecord]
    ) -> tuple[AppAnswer | CallFailure, float]:
        # The URL is judged on every attempt: a host that did not resolve may resolve
        # later, and one that moved to a private address must not be called then.
        try:
            await self.policy.check(task.url)
        except AppUrlForbiddenError as exc:
            return CallFailure(error_info(exc)), 0.0
        except AppUnreachableError as exc:
            return CallFailure(error_info(exc)), 0.0
        request = CallRequest(
            function_id=task.function_id,
            target_step=task.target_step,
            event=task.event,
            run=RunInfo(id=task.run_id, attempt=attempt),
            steps=memo,
        )
        report = await self.caller.call(task.url, request)
        return report.result, report.seconds


class _Notes:
    """The history records of one task, stamped with its run's identity."""

    def __init__(self, task: Task, sink: History) -> None:
        self.task = task
        self.sink = sink
        self.started_ms = now_ms()
        self.started_steps: set[str] = set()

    def step_started(self, step_id: str) -> None:
        """Once per task and step, dated when the task's first call began."""
        if step_id not in self.started_steps:
            self.started_steps.add(step_id)
            self.emit("step.started", step_id=step_id, attempt=0, ts=self.started_ms)

    def emit(
        self,
        kind: HistoryType,
        *,
        step_id: str | None = None,
        attempt: int | None = None,
        error: ErrorInfo | None = None,
        data: dict[str, float] | None = None,
        ts: int | None = None,
    ) -> None:
        event_id = self.task.event.get("id")
        self.sink.emit(
            HistoryRecord(
                type=kind,
                run_id=self.task.run_id,
                app_id=self.task.app_id,
                function_id=self.task.function_id,
                event_id=event_id if isinstance(event_id, str) else None,
                step_id=step_id,
                attempt=attempt,
                error=error,
                data=data,
                ts=ts if ts is not None else int(time.time() * 1000),
            )
        )
