"""The wait index: runs waiting for events, by key, and the events seen lately per key.

One row per wait key (services/router/wait_keys.py) in the router's ``waits``
table, co-partitioned with the waits topic: every command about a key (a run
opens or closes a wait, an event is probed, a sweep) is applied by the one
router that owns the key's partition, one at a time. So two routers split
the index, and an event never needs to look at waits of other keys.

The race the index closes: a run reaches a wait step at time T (the call that
reported it began then), but the wait reaches the index a few milliseconds
later, after the router recorded the call's outcome. An event accepted in
between must resume it. So the row also remembers the events probed under its
key for ``wait_lookback`` seconds, and a wait that opens takes the first
remembered event accepted at or after its ``since``.

Pure: :func:`apply` maps (row, command) to (row, resolutions).
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.records import Probe, Sweep, WaitClose, WaitCommand, WaitOpen, WaitResolved
from weir.functions.config import compile_match_expression
from weir.functions.filters import EventFilter

# Events remembered per key, newest kept: bounds a hot key's row.
REMEMBER_MAX = 100


class Waiter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    step_id: str
    since: int
    expires: int
    expression: str | None = None
    trigger: dict[str, Any] | None = None

    def takes(self, event: dict[str, Any], ts: int) -> bool:
        if ts < self.since:
            return False
        if self.expression is None:
            return True
        return _compiled(self.expression).holds({"event": self.trigger or {}, "async": event})


class Remembered(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ts: int
    event: dict[str, Any]


class WaitRow(BaseModel):
    """The value of one key in the waits table."""

    model_config = ConfigDict(extra="forbid")

    waiters: list[Waiter] = Field(default_factory=list)
    recent: list[Remembered] = Field(default_factory=list)

    def empty(self) -> bool:
        return not self.waiters and not self.recent

    def next_sweep(self, lookback_ms: int) -> int | None:
        """When a sweep has something to drop: the oldest memory's end, the first expiry."""
        times = [r.ts + lookback_ms for r in self.recent[:1]]
        times += [min(w.expires for w in self.waiters)] if self.waiters else []
        return min(times) if times else None


def apply(
    row: WaitRow | None, command: WaitCommand, *, now: int, lookback_ms: int
) -> tuple[WaitRow | None, list[WaitResolved]]:
    """The row after ``command`` (None: delete it) and the waits it resolved."""
    row = row if row is not None else WaitRow()
    resolved: list[WaitResolved] = []
    if isinstance(command, WaitOpen):
        resolved = _open(row, command)
    elif isinstance(command, WaitClose):
        row.waiters = [
            w for w in row.waiters if (w.run_id, w.step_id) != (command.run_id, command.step_id)
        ]
    elif isinstance(command, Probe):
        resolved = _probe(row, command, lookback_ms)
    elif isinstance(command, Sweep):
        # A waiter past its expiry lost its run's close (it cannot: the run's own
        # timer closes it), so this only keeps a row from outliving its purpose.
        row.waiters = [w for w in row.waiters if w.expires >= now]
    row.recent = [r for r in row.recent if r.ts + lookback_ms >= now][-REMEMBER_MAX:]
    return (None if row.empty() else row), resolved


def _open(row: WaitRow, command: WaitOpen) -> list[WaitResolved]:
    waiter = Waiter(
        run_id=command.run_id,
        step_id=command.step_id,
        since=command.since,
        expires=command.expires,
        expression=command.expression,
        trigger=command.trigger,
    )
    if any((w.run_id, w.step_id) == (waiter.run_id, waiter.step_id) for w in row.waiters):
        return []  # the same open, read twice
    for memory in sorted(row.recent, key=lambda r: r.ts):
        if waiter.takes(memory.event, memory.ts):
            return [_resolution(waiter, memory.event)]
    row.waiters.append(waiter)
    return []


def _probe(row: WaitRow, command: Probe, lookback_ms: int) -> list[WaitResolved]:
    resolved = []
    kept = []
    for waiter in row.waiters:
        if waiter.takes(command.event, command.ts):
            resolved.append(_resolution(waiter, command.event))
        else:
            kept.append(waiter)
    row.waiters = kept
    if lookback_ms > 0 and not any(
        r.event.get("id") == command.event.get("id") for r in row.recent
    ):
        row.recent.append(Remembered(ts=command.ts, event=command.event))
    return resolved


def _resolution(waiter: Waiter, event: dict[str, Any]) -> WaitResolved:
    return WaitResolved(run_id=waiter.run_id, step_id=waiter.step_id, event=event)


@functools.lru_cache(maxsize=1024)
def _compiled(expression: str) -> EventFilter:
    return compile_match_expression(expression)
