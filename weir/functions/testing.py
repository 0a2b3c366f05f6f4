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
sent events in ``sent_events``, and runs the on_failure handler when the run
fails. :func:`arun_function` is the same inside a running event loop.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from weir.errors import WeirError
from weir.functions.config import FUNCTION_FAILED_EVENT
from weir.functions.events import encode_event
from weir.functions.execute import execute
from weir.functions.function import Function
from weir.functions.limits import Limits
from weir.functions.protocol import (
    CallRequest,
    CompleteResponse,
    ErrorInfo,
    FailedResponse,
    PlannedResponse,
    RunInfo,
    RunWarning,
    StepOp,
    StepRecord,
    StepResponse,
)
from weir.functions.retry import retry_delay

WaitAnswer = Mapping[str, Any] | Callable[[StepOp], Any]


class RunLoopError(WeirError):
    """The test run made more calls than ``max_calls``: the handler never settles."""


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
    warnings: list[RunWarning] = field(default_factory=list)
    calls: int = 0
    failure: RunResult | None = None


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
    limits: Limits | None = None,
    max_calls: int = 10_000,
    seed: int = 0,
) -> RunResult:
    """Drive ``function`` for ``event`` until it completes or fails for good.

    ``steps`` pre-records results (as if an earlier deploy ran them);
    ``waits`` maps a wait_for_event step id to the event it receives (or a
    callable taking the StepOp), None or absent meaning the wait timed out.
    """
    envelope = encode_event(event)
    driver = _Driver(
        function=function,
        envelope=envelope,
        run_id=run_id or str(uuid.uuid4()),
        waits=waits,
        limits=limits or Limits(),
        max_calls=max_calls,
        rng=random.Random(seed),
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
        result.failure = await arun_function(
            function.failure_handler, failed, waits=waits, limits=limits, max_calls=max_calls
        )
    return result


@dataclass
class _Driver:
    function: Function
    envelope: dict[str, Any]
    run_id: str
    waits: WaitAnswer | None
    limits: Limits
    max_calls: int
    rng: random.Random
    result: RunResult = field(default_factory=lambda: RunResult(status="failed"))
    targets: list[str] = field(default_factory=list)
    attempt: int = 0

    async def run(self) -> RunResult:
        while self.result.calls < self.max_calls:
            target = self.targets[0] if self.targets else None
            request = CallRequest(
                function_id=self.function.id,
                target_step=target,
                event=self.envelope,
                run=RunInfo(id=self.run_id, attempt=self.attempt),
                steps=list(self.result.steps.values()),
            )
            self.result.calls += 1
            response = await execute(self.function, request, limits=self.limits)
            self.result.warnings.extend(
                w for w in response.warnings if w not in self.result.warnings
            )
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
                self._planned(response, target)
        raise RunLoopError(f"the run did not settle within {self.max_calls} calls")

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

    def _planned(self, response: PlannedResponse, target: str | None) -> None:
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
            else:
                sent = op.opts.get("events")
                events = (
                    [dict(e) for e in sent if isinstance(e, dict)] if isinstance(sent, list) else []
                )
                self.result.sent_events.extend(events)
                ids = [e.get("id") for e in events]
                self.result.steps[op.id] = StepRecord(id=op.id, data={"ids": ids})

    def _wait_answer(self, op: StepOp) -> Any:
        if self.waits is None:
            return None
        answer = self.waits(op) if callable(self.waits) else self.waits.get(op.id)
        if answer is None:
            return None
        return encode_event(answer)
