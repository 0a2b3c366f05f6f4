"""Never execute a task whose outcome the router has already recorded.

A task can reach a worker again after its outcome was recorded: the worker
that ran it died before committing its offset (Kafka re-delivers from the
last commit), or the router wrote the same task twice around a crash. Run
again, its step would execute after its result was recorded, which Weir
promises never happens.

The router answers every recorded outcome with a ``TaskDone`` record in the
task's own partition (same topic, same key), after the task. So:

- markers are remembered as they are read, and a task with a marker is skipped;
- after a partition is assigned, its backlog (the records between its
  committed offset and the end it had at assignment; none if those are equal)
  is held until the worker has read to that end,
  so the markers that follow a done task in the backlog are known before
  anything of the backlog is started; a bounded hold and a time limit keep a
  huge or stalled backlog from blocking the worker;
- a task is looked up again when it starts (a marker may have come while it
  waited for a call slot).

A second copy of a task this worker ran, with no marker yet, is not run
again either: services/worker/answers.py answers it with the first outcome.

What remains is a window the platform cannot close without a distributed
lock: a copy read by another worker before the marker was written. Such a
step ran before its result was recorded, which the at-least-once contract
allows, and the router keeps the first result.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from services.common.records import Task, TaskDone, task_record_adapter
from services.worker.consumer import Delivery
from services.worker.offsets import Partition
from services.worker.stats import WorkerStats

log = logging.getLogger("weir.worker.fence")

REMEMBER = 500_000  # task ids remembered as done (LRU)
HOLD_MAX = 800  # backlog records held per partition before giving up on catching up
HOLD_SECONDS = 3.0  # and the longest a backlog is held


@dataclass
class _CatchUp:
    end: int  # the partition's end offset when it was assigned
    since: float = field(default_factory=time.monotonic)
    held: list[tuple[Delivery, Task | None]] = field(default_factory=list)


class Fence:
    """Sorts delivered records into: markers (remembered), stale tasks, tasks to run."""

    def __init__(self, skip: Callable[[Delivery], None], stats: WorkerStats) -> None:
        self._skip = skip  # report a record finished without running it
        self._stats = stats
        self._done: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._catching_up: dict[Partition, _CatchUp] = {}

    @property
    def catching_up(self) -> bool:
        """Whether a partition's backlog is still held."""
        return bool(self._catching_up)

    def assigned(self, ends: dict[Partition, int]) -> None:
        """New partitions with their end offsets at assignment: hold their backlog."""
        for partition, end in ends.items():
            if end > 0:
                self._catching_up[partition] = _CatchUp(end)

    def admit(self, batch: list[Delivery]) -> list[tuple[Delivery, Task | None]]:
        """The records of ``batch`` (and of backlogs now caught up) to start, in order.

        Markers are consumed here; a record that is not a valid task record is
        passed on with ``None`` so the worker reports it as invalid.
        """
        ready: list[tuple[Delivery, Task | None]] = []
        for delivery in batch:
            record = _parse(delivery)
            if isinstance(record, TaskDone):
                self._remember_done((record.run_id, record.seq))
                self._skip(delivery)
            else:
                catching = self._catching_up.get(delivery.where)
                if catching is not None:
                    catching.held.append((delivery, record))
                else:
                    ready.append((delivery, record))
            self._maybe_release(delivery.where, delivery.offset, ready)
        for partition in list(self._catching_up):
            self._maybe_release(partition, -1, ready)
        return [(d, task) for d, task in ready if task is None or not self._drop_if_stale(d, task)]

    def recorded(self, task: Task) -> bool:
        """Whether a marker says the router recorded the task's outcome already."""
        if (task.run_id, task.seq) in self._done:
            self._stats.tasks_stale += 1
            return True
        return False

    def due(self) -> list[tuple[Delivery, Task | None]]:
        """Backlogs held too long, released (call it now and then)."""
        ready: list[tuple[Delivery, Task | None]] = []
        for partition in list(self._catching_up):
            self._maybe_release(partition, -1, ready)
        return [(d, task) for d, task in ready if task is None or not self._drop_if_stale(d, task)]

    def _maybe_release(
        self, partition: Partition, offset: int, ready: list[tuple[Delivery, Task | None]]
    ) -> None:
        catching = self._catching_up.get(partition)
        if catching is None:
            return
        reached = offset >= catching.end - 1
        overfull = len(catching.held) >= HOLD_MAX
        too_long = time.monotonic() - catching.since >= HOLD_SECONDS
        if reached or overfull or too_long:
            if not reached:
                log.warning(
                    "%s[%d]: starting %d backlog tasks before reading to offset %d (%s)",
                    *partition,
                    len(catching.held),
                    catching.end,
                    "hold full" if overfull else "hold timed out",
                )
            ready.extend(catching.held)
            del self._catching_up[partition]

    def _drop_if_stale(self, delivery: Delivery, task: Task) -> bool:
        if (task.run_id, task.seq) in self._done:
            self._stats.tasks_stale += 1
            self._skip(delivery)
            return True
        return False

    def _remember_done(self, key: tuple[str, int]) -> None:
        self._done[key] = None
        self._done.move_to_end(key)
        while len(self._done) > REMEMBER:
            self._done.popitem(last=False)

    def forget(self, partitions: set[Partition]) -> None:
        for partition in partitions:
            self._catching_up.pop(partition, None)


def _parse(delivery: Delivery) -> Task | TaskDone | None:
    try:
        return task_record_adapter.validate_json(delivery.value or b"")
    except ValidationError:
        return None
