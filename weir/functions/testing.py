"""Run a function to the end in-process, as the platform would, for users' own tests.

::

    from weir.functions.testing import run_function

    result = run_function(abandoned_cart, CartAdded(data={"cart_id": "c1", "user_id": "u1"}))
    assert result.status == "completed"
    assert result.steps["remind"].data == ...

:func:`run_function` plays the worker's part of docs/protocol.md without
Kafka or HTTP: it calls the same :func:`~weir.functions.execute.execute` the
endpoint does, records each step's result, retries failures up to the
function's ``retries`` (recording the delays it would have waited instead
of sleeping), runs planned parallel steps one by one with a target, passes
sleeps at once, answers waits from ``waits`` (a timeout when absent), keeps
sent events in ``sent_events``, runs invoked functions listed in
``functions`` (or answers invokes from ``invokes``), and runs the on_failure
handler when the run fails. :func:`arun_function` is the same inside a
running event loop. A cron function is run with :func:`cron_tick`'s event:
``run_function(report, cron_tick(report))``.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from weir.errors import (
    ErrorCode,
    FunctionNotFoundError,
    InvokeFailedError,
    TriggerInvalidError,
    WeirError,
)
from weir.functions.config import FUNCTION_FAILED_EVENT
from weir.functions.cron_tick import CronTick
from weir.functions.events import encode_event
from weir.functions.execute import execute
from weir.functions.function import Function
from weir.functions.limits import Limits
from weir.functions.protocol import (
    CallRequest,
    CompleteResponse,
    ErrorInfo,
    FailedResponse,
    InvokeOpts,
    PlannedResponse,
    RunInfo,
    RunWarning,
    StepOp,
    StepRecord,
    StepResponse,
)
from weir.functions.retry import retry_delay
from weir.functions.serialization import to_json_value

WaitAnswer = Mapping[str, Any] | Callable[[StepOp], Any]
InvokeAnswer = Mapping[str, Any] | Callable[[StepOp], Any]
# How deep invoked functions may invoke others before the test run gives up.
MAX_INVOKE_DEPTH = 50


class RunLoopError(WeirError):
    """The test run made more calls than ``max_calls`` (or invoked too deep): it never settles."""


@dataclass
class RunResult:
    """How a test run ended and everything it did on the way."""

    status: Literal["completed", "failed"]
    output: Any = None
    error: ErrorInfo | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)
    executions: Counter[str] = field(default_factory=Counter)
    retry_delays: list[float] = field(default_factory=list)
    sleeps: list[StepOp] = field(default_factory=list)
    sent_events: list[dict[str, Any]] = field(default_factory=list)
    invoked: dict[str, RunResult] = field(default_factory=dict)
    warnings: list[RunWarning] = field(default_factory=list)
    calls: int = 0
    failure: RunResult | None = None


@dataclass(frozen=True)
class _Options:
    """What every run of one test shares, invoked runs included."""

    waits: WaitAnswer | None
    functions: Sequence[Function]
    invokes: InvokeAnswer | None
    limits: Limits
    max_calls: int
    seed: int

    def invocable(self, reference: str) -> Function | None:
        """The function ``"fn-id"`` or ``"app/fn-id"`` names among ``functions`` (by its id)."""
        function_id = reference.rpartition("/")[2]
        return next((f for f in self.functions if f.id == function_id), None)


def run_function(function: Function, event: object, **options: Any) -> RunResult:
    """:func:`arun_function` from synchronous code (not inside a running event loop)."""
    return asyncio.run(arun_function(function, event, **options))


async def arun_function(
    function: Function,
    event: object,
    *,
    run_id: str | None = None,
    steps: Sequence[StepRecord] = (),
    waits: WaitAnswer | None = None,
    functions: Sequence[Function] = (),
    invokes: InvokeAnswer | None = None,
    limits: Limits | None = None,
    max_calls: int = 10_000,
    seed: int = 0,
) -> RunResult:
    """Drive ``function`` for ``event`` until it completes or fails for good.

    ``steps`` pre-records results (as if an earlier deploy ran them);
    ``waits`` maps a wait_for_event step id to the event it receives (or a
    callable taking the StepOp), None or absent meaning the wait timed out.
    An invoke step runs its function in-process when ``functions`` lists it
    (its run is in ``RunResult.invoked``); otherwise ``invokes`` maps the
    step id to its result (or a callable taking the StepOp answers it); an
    exception or an ErrorInfo there records the step as failed, as an
    ``InvokeTimeoutError(...)`` would. With neither, the step fails with
    ``function_not_found``.
    """
    shared = _Options(
        waits=waits,
        functions=list(functions),
        invokes=invokes,
        limits=limits or Limits(),
        max_calls=max_calls,
        seed=seed,
    )
    return await _run(function, encode_event(event), shared, run_id=run_id, steps=steps, depth=0)


def cron_tick(function: Function, at: datetime | None = None) -> CronTick:
    """The event the router starts a cron run with: the tick at or before ``at`` (default now).

    It is a tick of the function's first cron schedule.
    """
    if not function.schedules:
        raise TriggerInvalidError(f"function {function.id!r} has no cron trigger")
    schedule = function.schedules[0]
    tick = schedule.latest_at_or_before(at or datetime.now(UTC))
    if tick is None:
        raise TriggerInvalidError(f"cron {schedule.text!r} has no tick at or before {at}")
    return CronTick(data={"cron": schedule.text, "tick": tick}, ts=round(tick.timestamp() * 1000))


async def _run(
    function: Function,
    envelope: dict[str, Any],
    options: _Options,
    *,
    run_id: str | None = None,
    steps: Sequence[StepRecord] = (),
    depth: int,
) -> RunResult:
    if depth > MAX_INVOKE_DEPTH:
        raise RunLoopError(f"functions invoked each other more than {MAX_INVOKE_DEPTH} deep")
    driver = _Driver(
        function=function,
        envelope=envelope,
        run_id=run_id or str(uuid.uuid4()),
        options=options,
        depth=depth,
        rng=random.Random(options.seed),
    )
    for record in steps:
        driver.result.steps[record.id] = record
    result = await driver.run()
    if result.status == "failed" and function.failure_handler is not None:
        assert result.error is not None
        failed = {
            "name": FUNCTION_FAILED_EVENT,
            "data": {
                "function_id": function.id,
                "run_id": driver.run_id,
                "error": result.error.model_dump(mode="json"),
                "event": envelope,
            },
        }
        result.failure = await _run(
            function.failure_handler, encode_event(failed), options, depth=depth
        )
    return result


@dataclass
class _Driver:
    function: Function
    envelope: dict[str, Any]
    run_id: str
    options: _Options
    depth: int
    rng: random.Random
    result: RunResult = field(default_factory=lambda: RunResult(status="failed"))
    targets: list[str] = field(default_factory=list)
    attempt: int = 0

    async def run(self) -> RunResult:
        while self.result.calls < self.options.max_calls:
            target = self.targets[0] if self.targets else None
            request = CallRequest(
                function_id=self.function.id,
                target_step=target,
                event=self.envelope,
                run=RunInfo(id=self.run_id, attempt=self.attempt),
                steps=list(self.result.steps.values()),
            )
            self.result.calls += 1
            response = await execute(self.function, request, limits=self.options.limits)
            self.result.warnings.extend(
                w for w in response.warnings if w not in self.result.warnings
            )
            for done in response.done:  # finished on the way: recorded like a step answer
                self.result.executions[done.id] += 1
                self._record(StepRecord(id=done.id, data=done.data), target)
            if isinstance(response, CompleteResponse):
                self.result.status, self.result.output = "completed", response.output
                return self.result
            if isinstance(response, FailedResponse):
                if not self._retry(response.error):
                    self.result.status, self.result.error = "failed", response.error
                    return self.result
            elif isinstance(response, StepResponse):
                self._step_ran(response, target)
            else:
                await self._planned(response, target)
        raise RunLoopError(f"the run did not settle within {self.options.max_calls} calls")

    def _retry(self, error: ErrorInfo) -> bool:
        """Count an attempt; True when another one is due (its delay recorded)."""
        if not error.retryable or self.attempt >= self.function.config.retries:
            return False
        self.attempt += 1
        delay = retry_delay(self.attempt, retry_after=error.retry_after, rng=self.rng)
        self.result.retry_delays.append(delay)
        return True

    def _record(self, record: StepRecord, target: str | None) -> None:
        self.result.steps[record.id] = record
        self.attempt = 0
        if target is not None and self.targets and self.targets[0] == target:
            self.targets.pop(0)

    def _step_ran(self, response: StepResponse, target: str | None) -> None:
        step = response.step
        self.result.executions[step.id] += 1
        if step.error is None:
            self._record(StepRecord(id=step.id, data=step.data), target)
        elif not self._retry(step.error):
            self._record(StepRecord(id=step.id, error=step.error), target)

    async def _planned(self, response: PlannedResponse, target: str | None) -> None:
        if target is not None and self.targets and self.targets[0] == target:
            self.targets.pop(0)  # the code no longer reaches it; follow the new plan
        self.attempt = 0
        for op in response.steps:
            if op.op == "run":
                if op.id not in self.targets:
                    self.targets.append(op.id)
            elif op.op == "sleep":
                self.result.sleeps.append(op)
                self.result.steps[op.id] = StepRecord(id=op.id, data=None)
            elif op.op == "wait_for_event":
                self.result.steps[op.id] = StepRecord(id=op.id, data=self._wait_answer(op))
            elif op.op == "invoke":
                self.result.steps[op.id] = await self._invoke(op)
            else:
                sent = op.opts.get("events")
                events = (
                    [dict(e) for e in sent if isinstance(e, dict)] if isinstance(sent, list) else []
                )
                self.result.sent_events.extend(events)
                ids = [e.get("id") for e in events]
                self.result.steps[op.id] = StepRecord(id=op.id, data={"ids": ids})

    def _wait_answer(self, op: StepOp) -> Any:
        waits = self.options.waits
        if waits is None:
            return None
        answer = waits(op) if callable(waits) else waits.get(op.id)
        if answer is None:
            return None
        return encode_event(answer)

    async def _invoke(self, op: StepOp) -> StepRecord:
        """Record an invoke step: run the function in-process, or answer it from ``invokes``."""
        opts = InvokeOpts.model_validate(op.opts)
        target = self.options.invocable(opts.function)
        invokes = self.options.invokes
        if target is not None:
            event = {"name": target.config.invoked_event_name(), "data": opts.data}
            child = await _run(target, encode_event(event), self.options, depth=self.depth + 1)
            self.result.invoked[op.id] = child
            if child.status == "completed":
                return StepRecord(id=op.id, data=child.output)
            assert child.error is not None
            failed = InvokeFailedError(
                f"function {target.id!r} failed: {child.error.name}: {child.error.message}"
            )
            return StepRecord(id=op.id, error=_final(failed))
        if callable(invokes):
            return _answered(op.id, invokes(op))
        if invokes is not None and op.id in invokes:
            return _answered(op.id, invokes[op.id])
        missing = FunctionNotFoundError(
            f"no function {opts.function!r} to invoke in this test: list it in functions= or "
            f"answer step {op.id!r} in invokes="
        )
        return StepRecord(id=op.id, error=_final(missing))


def _answered(step_id: str, answer: Any) -> StepRecord:
    """An ``invokes`` answer as the invoke step's record: an error, or the output as JSON."""
    if isinstance(answer, ErrorInfo):
        return StepRecord(id=step_id, error=answer)
    if isinstance(answer, BaseException):
        return StepRecord(id=step_id, error=_final(answer))
    return StepRecord(id=step_id, data=to_json_value(answer))


def _final(exc: BaseException) -> ErrorInfo:
    """How the platform records an invoke that produced no output: final, coded, no stack."""
    if isinstance(exc, WeirError):
        code, message = str(exc.code), exc.message
    else:
        code, message = str(ErrorCode.INVOKE_FAILED), str(exc)
    return ErrorInfo(name=type(exc).__name__, message=message, code=code, retryable=False)
