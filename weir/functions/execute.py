"""One call: replay a function's handler against its memoized state and say what happened.

:func:`execute` is the whole app side of the protocol for one POST, free of
HTTP: the endpoint, the in-memory test executor and any future adapter call
it. It never raises for anything the handler does; the answer says it.

An async handler runs as a task. When it reaches new steps, the driver lets
every parallel branch reach its own (a few turns of the event loop with no
new step), then decides: a single new ``run`` step executes now; anything
else is reported as planned. A sync handler runs in a worker thread and
reaches its steps one at a time.

A step executed successfully may let the call go on, under the function's
:class:`~weir.functions.checkpoint.Checkpoint`: the step returns its result
to the handler (in its JSON form, as a later replay would) and the driver
follows the handler to its next step. The answer lists those steps as
``done``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, cast

from weir.errors import EventInvalidError
from weir.functions.context import Context, ReplayAwareLogger, start_new_unit
from weir.functions.events import decode_event
from weir.functions.function import AsyncHandler, Function, SyncHandler
from weir.functions.interrupt import StepInterrupt
from weir.functions.limits import Limits
from weir.functions.protocol import (
    CallRequest,
    CompleteResponse,
    FailedResponse,
    PlannedResponse,
    StepResponse,
)
from weir.functions.replay import Replay
from weir.functions.reporting import error_info
from weir.functions.serialization import to_json_value
from weir.functions.step import Step, SyncStep

AnyResponse = CompleteResponse | StepResponse | PlannedResponse | FailedResponse

# Event-loop turns without a new step after which parallel branches count as
# all blocked on their steps. Reaching a recorded step does not yield to the
# loop, so branches only need turns to start; the margin covers nested gathers.
SETTLE_ROUNDS = 20
# How long a handler may take to unwind after the call stopped before it is cancelled.
UNWIND_SECONDS = 1.0


@dataclass
class _Ended:
    """How the handler itself ended (when the replay did not decide the answer)."""

    value: Any = None
    error: BaseException | None = None


async def execute(function: Function, request: CallRequest, *, limits: Limits) -> AnyResponse:
    """Replay ``function`` for ``request`` and return the answer for the worker."""
    replay = Replay(request, limits, function.checkpoint)
    try:
        event = decode_event(request.event, function.event_type_for(_event_name(request)))
    except EventInvalidError as exc:
        return FailedResponse(error=error_info(exc, retryable=False))
    ctx = Context(
        event=event,
        run_id=request.run.id,
        function_id=function.id,
        attempt=request.run.attempt,
        logger=ReplayAwareLogger(request.run.id, function.id, lambda: replay.replaying),
    )
    replay.on_done = lambda: start_new_unit(ctx)
    if function.is_async:
        ended = await _drive_async(function, ctx, replay)
    else:
        ended = await _drive_sync(function, ctx, replay)
    answer = _answer(function, replay, ended)
    return answer.model_copy(update={"done": replay.done}) if replay.done else answer


def _event_name(request: CallRequest) -> str:
    name = request.event.get("name")
    return name if isinstance(name, str) else ""


async def _drive_async(function: Function, ctx: Context[Any], replay: Replay) -> _Ended:
    step = Step(replay)
    changed = replay.changed
    assert changed is not None
    task: asyncio.Task[Any] = asyncio.create_task(_call_async(function, ctx, step))
    try:
        while True:
            if replay.execution is not None:
                await replay.execution
                if replay.stopped:
                    break
                continue  # the step is done and the handler went on: follow it
            if task.done():
                break
            waiter = asyncio.ensure_future(changed.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            changed.clear()
            if replay.execution is not None or task.done():
                continue
            await _settle(task, replay)
            if replay.execution is not None or task.done():
                continue
            _decide(replay)
            if replay.stopped:
                break
    finally:
        replay.stop()
        await _unwind(task)
    return _ended_of(task)


async def _call_async(function: Function, ctx: Context[Any], step: Step) -> Any:
    return await cast(AsyncHandler, function.handler)(ctx, step)


async def _settle(task: asyncio.Task[Any], replay: Replay) -> None:
    quiet, seen = 0, len(replay.reached)
    while quiet < SETTLE_ROUNDS:
        await asyncio.sleep(0)
        if task.done() or replay.execution is not None:
            return
        if len(replay.reached) != seen:
            quiet, seen = 0, len(replay.reached)
        else:
            quiet += 1


def _decide(replay: Replay) -> None:
    """Every branch waits at a new step: execute the one ``run`` step, or plan them all."""
    if replay.target is None:
        replay.check_all_reached()
        if len(replay.reached) == 1 and replay.reached[0].op.op == "run":
            only = replay.reached[0]
            assert only.release is not None
            replay.execution = asyncio.get_running_loop().create_future()
            only.release.set_result(None)
            return
    # Several steps (or a platform op, or a target the code no longer reaches).
    replay.plan()


async def _unwind(task: asyncio.Task[Any]) -> None:
    if task.done():
        return
    await asyncio.wait({task}, timeout=UNWIND_SECONDS)
    if not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def _ended_of(task: asyncio.Task[Any]) -> _Ended:
    if task.cancelled():
        return _Ended(error=asyncio.CancelledError("handler cancelled after the call stopped"))
    error = task.exception()
    return _Ended(error=error) if error is not None else _Ended(value=task.result())


async def _drive_sync(function: Function, ctx: Context[Any], replay: Replay) -> _Ended:
    step = SyncStep(replay, asyncio.get_running_loop())
    try:
        value = await asyncio.to_thread(cast(SyncHandler, function.handler), ctx, step)
    except (Exception, StepInterrupt) as exc:
        return _Ended(error=exc)
    return _Ended(value=value)


def _answer(function: Function, replay: Replay, ended: _Ended) -> AnyResponse:
    warnings = replay.warnings
    if replay.fatal is not None:
        return FailedResponse(error=error_info(replay.fatal, retryable=False), warnings=warnings)
    if replay.result is not None:
        return StepResponse(step=replay.result, warnings=warnings)
    if replay.aborted:  # a BaseException cut the step short: a failed attempt
        aborted = ended.error or RuntimeError("the step was aborted")
        return FailedResponse(error=error_info(aborted, retryable=True), warnings=warnings)
    if replay.target is not None and not replay.target_reached:
        replay.warn(
            "target_not_found",
            f"target step {replay.target!r} was not reached; the code changed under this run",
        )
    if replay.planned:
        return PlannedResponse(steps=replay.pending_ops(), warnings=warnings)
    if ended.error is not None:
        if isinstance(ended.error, StepInterrupt):
            # Only a handler that caught the interrupt and raised it again
            # without a decision gets here: a bug in the handler, not a result.
            ended = _Ended(error=RuntimeError("the handler re-raised a step interrupt by hand"))
        assert ended.error is not None
        return FailedResponse(error=error_info(ended.error), warnings=warnings)
    replay.check_all_reached()
    try:
        output = to_json_value(ended.value, function.output_annotation)
        replay.check_output(output)
    except Exception as exc:  # no JSON form, or over a limit
        return FailedResponse(error=error_info(exc, retryable=False), warnings=warnings)
    return CompleteResponse(output=output, warnings=warnings)
