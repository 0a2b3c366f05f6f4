"""The step API a handler calls: ``await step.run("id", fn, *args)`` and friends.

Besides ``run`` (app code, executed here) there are platform steps, carried
out by the router and only reported from here: ``sleep``, ``sleep_until``,
``wait_for_event``, ``send_event`` and ``invoke`` (weir/functions/invoke.py).

:class:`Step` serves async handlers (steps may run in parallel with
``asyncio.gather``); :class:`SyncStep` serves plain ``def`` handlers, which
run in a worker thread and reach their steps one at a time.

Every method first claims a deterministic id (``id``, ``id:1``, ...). A
recorded step returns its result at once (or raises :class:`StepError` if it
failed for good). A new step suspends the handler; the call then either
executes it or reports it, and ends with :class:`StepInterrupt`.

A step function may be sync or async. In an async handler a sync step
function runs on the event loop (like any sync code there): give I/O-bound
steps async functions.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, cast, overload

from pydantic import JsonValue

from weir.errors import StepOptionsInvalidError
from weir.functions.config import compile_match_expression
from weir.functions.events import decode_event, encode_event, event_name_of, sent_event_id
from weir.functions.interrupt import StepInterrupt
from weir.functions.invoke import invoke_annotation, invoke_op
from weir.functions.protocol import StepOp, StepResult
from weir.functions.replay import Reached, Replay, step_error
from weir.functions.reporting import error_info
from weir.functions.serialization import (
    NO_ANNOTATION,
    from_json_value,
    return_annotation,
    to_json_value,
)

if TYPE_CHECKING:
    from weir.functions.function import Function

T = TypeVar("T")
E = TypeVar("E")
Ts = TypeVarTuple("Ts")

Duration = timedelta | float | int


def _seconds(duration: Duration, what: str) -> float:
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    if seconds < 0:
        raise StepOptionsInvalidError(f"{what} cannot be negative ({seconds}s)")
    return seconds


def _sleep_op(step_id: str, name: str, duration: Duration) -> StepOp:
    return StepOp(
        id=step_id, name=name, op="sleep", opts={"seconds": _seconds(duration, "a sleep")}
    )


def _sleep_until_op(step_id: str, name: str, when: datetime) -> StepOp:
    if when.tzinfo is None:
        raise StepOptionsInvalidError("sleep_until needs an aware datetime (with a tzinfo)")
    return StepOp(
        id=step_id, name=name, op="sleep", opts={"until": when.astimezone(UTC).isoformat()}
    )


def _wait_op(
    step_id: str,
    name: str,
    event: str | type[Any],
    timeout: Duration,
    match: str | None,
    if_: str | None,
) -> StepOp:
    event_name = event if isinstance(event, str) else event_name_of(event)
    opts: dict[str, JsonValue] = {
        "event": event_name,
        "timeout": _seconds(timeout, "a timeout"),
    }
    if match is not None:
        opts["match"] = match
    if if_ is not None:
        # Checked here so a typo fails in the handler, not silently in the router.
        compile_match_expression(if_)
        opts["if"] = if_
    return StepOp(id=step_id, name=name, op="wait_for_event", opts=opts)


def _send_op(step_id: str, name: str, events: object, run_id: str) -> StepOp:
    items = events if isinstance(events, Sequence) and not isinstance(events, str) else [events]
    envelopes: list[JsonValue] = []
    for index, item in enumerate(items):
        explicit = item.get("id") if isinstance(item, Mapping) else None
        envelope = encode_event(item)
        # Ids derive from run and step unless given, so a resend repeats them.
        envelope["id"] = explicit or sent_event_id(run_id, step_id, index)
        envelopes.append(cast(JsonValue, envelope))
    return StepOp(id=step_id, name=name, op="send_event", opts={"events": envelopes})


class _StepBase:
    def __init__(self, replay: Replay) -> None:
        self._replay = replay

    def _recorded(self, step_id: str, annotation: Any) -> tuple[bool, Any]:
        record = self._replay.recall(step_id)
        if record is None:
            return False, None
        if record.error is not None:
            raise step_error(record)
        return True, from_json_value(record.data, annotation)

    def _finish(
        self, op: StepOp, annotation: Any, value: Any = None, exc: Exception | None = None
    ) -> StepResult:
        """The result of executing ``op``: its JSON output, or the error of this attempt."""
        if exc is None:
            try:
                data = to_json_value(value, annotation)
                self._replay.check_output(data)
            except Exception as invalid:  # no JSON form, or over a limit: final
                return StepResult(
                    id=op.id, name=op.name, error=error_info(invalid, retryable=False)
                )
            return StepResult(id=op.id, name=op.name, data=data)
        return StepResult(id=op.id, name=op.name, error=error_info(exc))


class Step(_StepBase):
    """Steps of an async handler."""

    def __init__(self, replay: Replay) -> None:
        super().__init__(replay)
        replay.changed = asyncio.Event()

    def _flow(self) -> object:
        return asyncio.current_task()

    @overload
    async def run(
        self, step_id: str, fn: Callable[[*Ts], Coroutine[Any, Any, T]], *args: *Ts
    ) -> T: ...

    @overload
    async def run(self, step_id: str, fn: Callable[[*Ts], T], *args: *Ts) -> T: ...

    async def run(self, step_id: str, fn: Callable[[*Ts], Any], *args: *Ts) -> Any:
        """Run ``fn(*args)`` once for this run and return its (memoized) result."""
        replay = self._replay
        sid = replay.claim(step_id, self._flow())
        annotation = return_annotation(fn)
        found, value = self._recorded(sid, annotation)
        if found:
            return value
        op = StepOp(id=sid, name=step_id, op="run")
        await self._reach(op)
        # Released to execute: this call runs this step, then stops or goes on.
        token = replay.begin_execution(sid)
        result: StepResult | None = None  # stays None if a BaseException aborts the step
        try:
            try:
                output = fn(*args)
                if inspect.isawaitable(output):
                    output = await output
            except Exception as exc:
                result = self._finish(op, annotation, exc=exc)
            else:
                result = self._finish(op, annotation, output)
        finally:
            goes_on = replay.end_execution(token, result)
        if goes_on:  # the call goes on: the handler gets the result as a replay would
            assert result is not None
            return from_json_value(result.data, annotation)
        raise StepInterrupt(f"step {sid!r} executed")

    async def sleep(self, step_id: str, duration: Duration) -> None:
        """Pause the run for ``duration`` (a timedelta or seconds); nothing runs meanwhile."""
        sid = self._replay.claim(step_id, self._flow())
        if not self._recorded(sid, NO_ANNOTATION)[0]:
            await self._reach(_sleep_op(sid, step_id, duration))

    async def sleep_until(self, step_id: str, when: datetime) -> None:
        """Pause the run until ``when`` (an aware datetime)."""
        sid = self._replay.claim(step_id, self._flow())
        if not self._recorded(sid, NO_ANNOTATION)[0]:
            await self._reach(_sleep_until_op(sid, step_id, when))

    @overload
    async def wait_for_event(
        self,
        step_id: str,
        *,
        event: type[E],
        timeout: Duration,  # noqa: ASYNC109 (a durable timeout, not an asyncio one)
        match: str | None = None,
        if_: str | None = None,
    ) -> E | None: ...

    @overload
    async def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        timeout: Duration,  # noqa: ASYNC109 (a durable timeout, not an asyncio one)
        match: str | None = None,
        if_: str | None = None,
    ) -> Any: ...

    async def wait_for_event(
        self,
        step_id: str,
        *,
        event: str | type[Any],
        timeout: Duration,  # noqa: ASYNC109 (a durable timeout, not an asyncio one)
        match: str | None = None,
        if_: str | None = None,
    ) -> Any:
        """The first matching event within ``timeout``, or None when it passes."""
        sid = self._replay.claim(step_id, self._flow())
        found, data = self._recorded(sid, NO_ANNOTATION)
        if found:
            return None if data is None else decode_event(data, _typed(event))
        await self._reach(_wait_op(sid, step_id, event, timeout, match, if_))
        return None  # not reached: _reach only returns for "run" steps

    async def send_event(self, step_id: str, events: object) -> list[str]:
        """Send one event or a list of them (Event instances or dicts); returns their ids."""
        sid = self._replay.claim(step_id, self._flow())
        found, data = self._recorded(sid, NO_ANNOTATION)
        if found:
            return list(data.get("ids", [])) if isinstance(data, dict) else []
        await self._reach(_send_op(sid, step_id, events, self._replay.request.run.id))
        return []

    async def invoke(
        self,
        step_id: str,
        *,
        function: Function | str,
        data: object = None,
        timeout: Duration | None = None,  # noqa: ASYNC109 (a durable timeout, not an asyncio one)
    ) -> Any:
        """Run another function with ``data`` and return its output.

        ``function`` is a Function (its output comes back as its declared
        return type) or an id, ``"fn-id"`` or ``"app/fn-id"``. ``data`` is a
        dict, a Pydantic model or an Event (its data). Raises StepError when
        that run fails, or does not end within ``timeout``.
        """
        sid = self._replay.claim(step_id, self._flow())
        found, value = self._recorded(sid, invoke_annotation(function))
        if found:
            return value
        await self._reach(invoke_op(sid, step_id, function, data, timeout))
        return None  # not reached: _reach only returns for "run" steps

    async def _reach(self, op: StepOp) -> None:
        """Wait here until the call decides: return to execute ``op``, or StepInterrupt."""
        replay = self._replay
        assert replay.changed is not None
        if op.op == "run" and op.id == replay.target:
            replay.target_reached = True
            replay.execution = asyncio.get_running_loop().create_future()
            replay.changed.set()
            return
        release: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        replay.reached.append(Reached(op, release))
        replay.changed.set()
        await release
        if op.op != "run":  # platform ops are never executed in the app
            raise StepInterrupt("platform step reported")


class SyncStep(_StepBase):
    """Steps of a plain ``def`` handler: sequential, running in a worker thread.

    Async step functions run on the app's event loop, which ``loop`` names.
    """

    def __init__(self, replay: Replay, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(replay)
        self._loop = loop

    def _flow(self) -> object:
        return threading.get_ident()

    @overload
    def run(self, step_id: str, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T: ...

    @overload
    def run(self, step_id: str, fn: Callable[[*Ts], T], *args: *Ts) -> T: ...

    def run(self, step_id: str, fn: Callable[[*Ts], Any], *args: *Ts) -> Any:
        """Run ``fn(*args)`` once for this run and return its (memoized) result."""
        replay = self._replay
        sid = replay.claim(step_id, self._flow())
        annotation = return_annotation(fn)
        found, value = self._recorded(sid, annotation)
        if found:
            return value
        op = StepOp(id=sid, name=step_id, op="run")
        self._reach(op)
        token = replay.begin_execution(sid)
        result: StepResult | None = None  # stays None if a BaseException aborts the step
        try:
            try:
                output = fn(*args)
                if inspect.isawaitable(output):
                    output = asyncio.run_coroutine_threadsafe(_awaited(output), self._loop).result()
            except Exception as exc:
                result = self._finish(op, annotation, exc=exc)
            else:
                result = self._finish(op, annotation, output)
        finally:
            goes_on = replay.end_execution(token, result)
        if goes_on:  # the call goes on: the handler gets the result as a replay would
            assert result is not None
            return from_json_value(result.data, annotation)
        raise StepInterrupt(f"step {sid!r} executed")

    def sleep(self, step_id: str, duration: Duration) -> None:
        """Pause the run for ``duration`` (a timedelta or seconds)."""
        sid = self._replay.claim(step_id, self._flow())
        if not self._recorded(sid, NO_ANNOTATION)[0]:
            self._reach(_sleep_op(sid, step_id, duration))

    def sleep_until(self, step_id: str, when: datetime) -> None:
        """Pause the run until ``when`` (an aware datetime)."""
        sid = self._replay.claim(step_id, self._flow())
        if not self._recorded(sid, NO_ANNOTATION)[0]:
            self._reach(_sleep_until_op(sid, step_id, when))

    def wait_for_event(
        self,
        step_id: str,
        *,
        event: str | type[Any],
        timeout: Duration,
        match: str | None = None,
        if_: str | None = None,
    ) -> Any:
        """The first matching event within ``timeout``, or None when it passes."""
        sid = self._replay.claim(step_id, self._flow())
        found, data = self._recorded(sid, NO_ANNOTATION)
        if found:
            return None if data is None else decode_event(data, _typed(event))
        self._reach(_wait_op(sid, step_id, event, timeout, match, if_))
        return None

    def send_event(self, step_id: str, events: object) -> list[str]:
        """Send one event or a list of them (Event instances or dicts); returns their ids."""
        sid = self._replay.claim(step_id, self._flow())
        found, data = self._recorded(sid, NO_ANNOTATION)
        if found:
            return list(data.get("ids", [])) if isinstance(data, dict) else []
        self._reach(_send_op(sid, step_id, events, self._replay.request.run.id))
        return []

    def invoke(
        self,
        step_id: str,
        *,
        function: Function | str,
        data: object = None,
        timeout: Duration | None = None,
    ) -> Any:
        """Run another function with ``data`` and return its output (see :meth:`Step.invoke`)."""
        sid = self._replay.claim(step_id, self._flow())
        found, value = self._recorded(sid, invoke_annotation(function))
        if found:
            return value
        self._reach(invoke_op(sid, step_id, function, data, timeout))
        return None

    def _reach(self, op: StepOp) -> None:
        """Return to execute ``op`` now; otherwise record it and stop with StepInterrupt."""
        replay = self._replay
        if replay.target is not None:
            if op.op == "run" and op.id == replay.target:
                replay.target_reached = True
                return
        elif op.op == "run":
            replay.check_all_reached()
            return
        replay.check_all_reached()
        replay.reached.append(Reached(op))
        replay.plan()
        raise StepInterrupt("step reported")


def _typed(event: str | type[Any]) -> type[Any] | None:
    return None if isinstance(event, str) else event


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable
