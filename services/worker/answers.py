"""Answer a later copy of a task with the outcome of the copy this worker already ran.

The router can write a task twice around a crash: it writes a run's effects,
then stores its state, and a router killed in between replays the command
and writes the same task (same run, same seq) again. The second copy is
usually harmless: the router records the first outcome it reads and ignores
the rest. But a run started straight from the events topic (decision 27 of
docs/architecture.md) is not ordered with its outcomes on the results topic,
so the restarted router can read the first copy's outcome before the replayed
event has started the run again, and drop it as an outcome of no run. Then
the second copy's outcome is the only one the run will ever get: a worker
that skipped the copy would leave the run waiting for ever.

So a worker neither skips a second copy nor runs it again: it writes the
first copy's outcome once more (waiting for it if that copy is still under
way). The router ignores the repeat if it had recorded the first, and the
step is not executed twice either way.

Outcomes are kept up to a budget (oldest forgotten first). A copy of a
task whose outcome was forgotten runs again, as Kafka's at-least-once
delivery allows: a run left waiting would be worse than a step run twice.
Only the event loop's thread uses this.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

TaskId = tuple[str, int]  # (run id, seq)

# Outcomes kept, as written to Kafka. A copy comes back after a router restart,
# and while the router is down no new tasks (so no new outcomes) come: even a
# small window covers it.
BUDGET_BYTES = 32 * 1024 * 1024
MOST = 100_000


class Answers:
    def __init__(self, budget_bytes: int = BUDGET_BYTES, most: int = MOST) -> None:
        self._budget = budget_bytes
        self._most = most
        self._running: dict[TaskId, asyncio.Future[bytes | None]] = {}  # claimed, no outcome yet
        self._written: OrderedDict[TaskId, bytes] = OrderedDict()  # oldest first
        self._bytes = 0

    def claim(self, task: TaskId) -> asyncio.Future[bytes | None] | None:
        """None if this is the first copy here (the caller runs it and then calls
        :meth:`written` or :meth:`abandoned`); else what the earlier copy wrote,
        to be awaited (None: that copy was abandoned)."""
        running = self._running.get(task)
        if running is not None:
            return running
        loop = asyncio.get_running_loop()
        outcome = self._written.get(task)
        if outcome is not None:
            answered: asyncio.Future[bytes | None] = loop.create_future()
            answered.set_result(outcome)
            return answered
        self._running[task] = loop.create_future()
        return None

    def written(self, task: TaskId, outcome: bytes) -> None:
        """The claimed task's outcome, as Kafka acknowledged it."""
        claim = self._running.pop(task, None)
        if claim is None:
            return
        claim.set_result(outcome)
        self._written[task] = outcome
        self._bytes += len(outcome)
        while self._written and (self._bytes > self._budget or len(self._written) > self._most):
            _, oldest = self._written.popitem(last=False)
            self._bytes -= len(oldest)

    def abandoned(self, task: TaskId) -> None:
        """The claimed task was given up without an outcome (the worker is stopping)."""
        claim = self._running.pop(task, None)
        if claim is not None:
            claim.set_result(None)

    def __len__(self) -> int:
        return len(self._running) + len(self._written)

    @property
    def bytes(self) -> int:
        return self._bytes
