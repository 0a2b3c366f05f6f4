"""The router's timer loop: wakes runs whose timers are due, sweeps the wait index,
starts cron runs.

Faust timers may read tables but not write them, so this loop only reads the
``timers`` and ``waits`` tables and writes commands to topics; the agents
that own the tables apply them (a ``Wake`` fires whatever of the run's state
is due, idempotently). The due times live in an in-memory heap, filled as the
agents store rows and rebuilt from the tables whenever partitions move
(start-up, a rebalance), so a timer survives every restart and fires once:
a Wake written twice finds nothing due the second time.

Cron ticks are not stored at all: a cron run's id is derived from its
function and its tick, so a tick started twice is started once. The router
that owns the function's partition of the results topic starts its ticks;
after a (re)start or a rebalance it also starts the latest tick it may have
missed, if no older than ``cron_catchup`` (the documented catch-up policy).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from services.common.partitions import partition_for
from services.common.records import StartRun, Sweep, Wake, dumps, now_ms
from services.router.run_state import derived_id
from services.router.waits import WaitRow
from weir.functions.cron import CronSchedule

if TYPE_CHECKING:
    from services.router.app import Router

log = logging.getLogger("weir.router.timers")
CRON_EVENT = "weir/cron"
# Ticks started in one look, at most: a stalled loop does not start a flood.
CRON_BURST = 10

Entry = tuple[int, int, str, str]  # (due ms, tie-breaker, "run" | "sweep", run id | wait key)


class TimerLoop:
    def __init__(self, router: Router) -> None:
        self.router = router
        self.tick = router.settings.router_timer_tick
        self.catchup_ms = int(router.settings.cron_catchup * 1000)
        self._heap: list[Entry] = []
        self._sweeps: dict[str, int] = {}  # key -> its sweep in the heap (one per key)
        self._order = itertools.count()
        self._stale = True
        self._cron_next: dict[tuple[str, str, str], int] = {}
        self._cron_first_pass = True
        self._schedules: dict[str, CronSchedule] = {}

    # -- fed by the agents ---------------------------------------------------------

    def schedule_run(self, run_id: str, due: int) -> None:
        heapq.heappush(self._heap, (due, next(self._order), "run", run_id))

    def schedule_sweep(self, key: str, due: int) -> None:
        # A hot key is stored on every event that probes it, mostly with the same
        # next sweep: push it once.
        if self._sweeps.get(key) == due:
            return
        self._sweeps[key] = due
        heapq.heappush(self._heap, (due, next(self._order), "sweep", key))

    def reassigned(self) -> None:
        """Partitions moved: rebuild the heap from the tables before the next firing."""
        self._stale = True

    # -- the loop ------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.look()
            except Exception:  # a failed look is retried at the next tick
                log.exception("timer loop")

    def ready(self) -> bool:
        app = self.router.app
        tables: Any = app.tables  # the recovery attribute is not on Faust's interface
        recovered = tables.recovery.completed.is_set()
        return recovered and not app.rebalancing and not app.in_recovery

    async def look(self) -> None:
        if not self.ready():
            return
        if self._stale:
            self._rebuild()
        now = now_ms()
        topics = self.router.topics
        records: list[tuple[str, bytes, bytes]] = []
        while self._heap and self._heap[0][0] <= now:
            due, _, kind, ident = heapq.heappop(self._heap)
            if kind == "run":
                if self.router.timers.get(ident) == due:  # else moved or gone since
                    records.append(
                        (topics.results, ident.encode(), dumps(Wake(run_id=ident, at=now)))
                    )
            else:
                if self._sweeps.get(ident) == due:
                    del self._sweeps[ident]
                if self.router.waits.get(ident) is not None:
                    records.append((topics.waits, ident.encode(), dumps(Sweep(key=ident))))
        records += self._cron_starts(now)
        if records:
            try:
                await self.router.producer.write(records)
            except Exception:
                # What was popped is not lost: the tables still hold it, and the
                # next look rebuilds the heap from them (cron ticks included).
                self._stale = True
                raise

    def _rebuild(self) -> None:
        self._stale = False
        heap: list[Entry] = []
        for run_id, due in self.router.timers.items():
            heap.append((int(due), next(self._order), "run", str(run_id)))
        lookback = self.router.lookback_ms
        for key, stored in self.router.waits.items():
            due = WaitRow.model_validate(stored).next_sweep(lookback)
            if due is not None:
                heap.append((due, next(self._order), "sweep", str(key)))
        heapq.heapify(heap)
        self._heap = heap
        self._sweeps = {key: due for due, _, kind, key in heap if kind == "sweep"}
        self._cron_next.clear()
        self._cron_first_pass = True
        log.info("timers rebuilt: %d due times", len(heap))

    # -- cron ------------------------------------------------------------------------

    def _cron_starts(self, now: int) -> list[tuple[str, bytes, bytes]]:
        records: list[tuple[str, bytes, bytes]] = []
        owned = self._owned_partitions()
        seen = set()
        for sub, text in self.router.index.cron_functions():
            ident = (sub.app_id, sub.function.id, text)
            seen.add(ident)
            if self._partition(f"{sub.app_id}/{sub.function.id}") not in owned:
                self._cron_next.pop(ident, None)
                continue
            schedule = self._schedule(text)
            if ident not in self._cron_next:
                self._cron_next[ident] = self._first_tick(schedule, now)
            for _ in range(CRON_BURST):
                tick = self._cron_next[ident]
                if tick > now:
                    break
                records.append(self._cron_start(sub.app_id, sub.function.id, text, tick))
                self._cron_next[ident] = _ms(schedule.next_after(_dt(tick)))
        for gone in set(self._cron_next) - seen:
            del self._cron_next[gone]
        self._cron_first_pass = False
        return records

    def _first_tick(self, schedule: CronSchedule, now: int) -> int:
        """Where a function's schedule starts: at a start-up or a move, the latest missed
        tick within the catch-up window; for a function registered since, the next one."""
        if self._cron_first_pass:
            latest = schedule.latest_at_or_before(_dt(now))
            if latest is not None and now - _ms(latest) <= self.catchup_ms:
                return _ms(latest)
        return _ms(schedule.next_after(_dt(now)))

    def _cron_start(
        self, app_id: str, function_id: str, text: str, tick: int
    ) -> tuple[str, bytes, bytes]:
        run_id = derived_id("cron", app_id, function_id, text, str(tick))
        event = {
            "name": CRON_EVENT,
            "id": derived_id("cron-event", app_id, function_id, text, str(tick)),
            "ts": tick,
            "data": {"cron": text, "tick": _dt(tick).isoformat()},
        }
        command = StartRun(run_id=run_id, app_id=app_id, function_id=function_id, event=event)
        return (self.router.topics.results, run_id.encode(), dumps(command))

    def _schedule(self, text: str) -> CronSchedule:
        if text not in self._schedules:
            self._schedules[text] = CronSchedule.parse(text)
        return self._schedules[text]

    def _owned_partitions(self) -> set[int]:
        results = self.router.topics.results
        return {tp.partition for tp in self.router.app.consumer.assignment() if tp.topic == results}

    def _partition(self, key: str) -> int:
        return partition_for(key.encode(), self.router.topics.partitions)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
