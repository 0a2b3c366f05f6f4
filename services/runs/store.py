"""An in-memory view of the runs topic for the run API.

A background thread reads the runs topic from the beginning (no consumer
group: every gateway process keeps the whole view) and folds each record into
its run. The view is bounded: past ``max_runs`` the runs that finished first
are forgotten by the API (they stay in the topic, the history of record).
Runs still going are never forgotten, so with more of them than ``max_runs``
(say 200,000 runs waiting for events) the view holds them all.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from services.common.follow import TopicFollower
from services.common.records import HistoryRecord
from services.runs.fold import apply

log = logging.getLogger("weir.runs")
FINAL = frozenset({"completed", "failed", "cancelled"})
VIEW_BATCH_MS = 100


class RunView:
    """Thread-safe runs by id, and run ids by the event that started them."""

    def __init__(self, max_runs: int = 100_000) -> None:
        self.max_runs = max_runs
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._by_event: dict[str, list[str]] = {}
        # Finished runs in the order they finished: eviction takes the first, at
        # once, instead of scanning past every run still going.
        self._finished: OrderedDict[str, None] = OrderedDict()

    def add(self, record: HistoryRecord) -> None:
        with self._lock:
            run = apply(self._runs.get(record.run_id), record)
            self._runs[record.run_id] = run
            if run["status"] in FINAL:
                self._finished[record.run_id] = None
            if run["event_id"]:
                ids = self._by_event.setdefault(run["event_id"], [])
                if record.run_id not in ids:
                    ids.append(record.run_id)
            if len(self._runs) > self.max_runs:
                self._evict()

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            run = self._runs.get(run_id)
            return _copy(run) if run is not None else None

    def runs_of_event(self, event_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                _copy(self._runs[r]) for r in self._by_event.get(event_id, []) if r in self._runs
            ]

    def _evict(self) -> None:
        while len(self._runs) > self.max_runs and self._finished:
            run_id, _ = self._finished.popitem(last=False)
            run = self._runs.pop(run_id, None)
            if run is None:
                continue
            event_id = run["event_id"] or ""
            event_runs = self._by_event.get(event_id, [])
            if run_id in event_runs:
                event_runs.remove(run_id)
            if not event_runs:
                self._by_event.pop(event_id, None)


def _copy(run: dict[str, Any]) -> dict[str, Any]:
    return {**run, "steps": [dict(s) for s in run["steps"]], "warnings": list(run["warnings"])}


class RunFollower(TopicFollower):
    """Feeds a :class:`RunView` from the runs topic, in a daemon thread."""

    def __init__(self, bootstrap: str, topic: str, view: RunView) -> None:
        # A busy platform writes several history records per run: read them in
        # batches (the view may lag by that much) rather than fetch by fetch.
        super().__init__(bootstrap, topic, self._add, batch_ms=VIEW_BATCH_MS)
        self.view = view

    def _add(self, _key: bytes | None, value: bytes | None) -> None:
        if not value:
            return
        try:
            self.view.add(HistoryRecord.model_validate_json(value))
        except ValueError as exc:
            log.warning("skipping an unreadable history record: %s", exc)
