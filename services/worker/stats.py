"""Simple counters and timings of one worker, logged periodically and read by tests.

Counters are plain integers bumped by the thread that owns the event (the
event loop, or the consumer thread for Kafka-side ones), so no lock is taken
on the hot path; a snapshot read from elsewhere may be a moment stale.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields


@dataclass(slots=True)
class Timing:
    """Count, sum and maximum of one duration, in seconds."""

    count: int = 0
    total: float = 0.0
    peak: float = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.peak = max(self.peak, seconds)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def summary(self) -> dict[str, float]:
        return {"count": self.count, "mean_ms": self.mean * 1000, "max_ms": self.peak * 1000}


@dataclass(slots=True)
class WorkerStats:
    tasks_received: int = 0
    tasks_invalid: int = 0
    tasks_stale: int = 0  # skipped: the router had recorded their outcome already
    tasks_answered_again: int = 0  # copies of a task run here: its outcome written again
    outcomes_reported: int = 0
    outcome_report_failures: int = 0
    calls: int = 0
    retries: int = 0
    transport_failures: int = 0
    history_dropped: int = 0
    partitions_assigned: int = 0
    partitions_revoked: int = 0
    partitions_lost: int = 0
    commits: int = 0
    commit_failures: int = 0
    pauses: int = 0
    resumes: int = 0
    held_peak: int = 0  # most task records held at once (running or waiting for a slot)
    outcomes: Counter[str] = field(default_factory=Counter)
    queue_delay: Timing = field(default_factory=Timing)
    call_time: Timing = field(default_factory=Timing)
    task_time: Timing = field(default_factory=Timing)

    def snapshot(self) -> dict[str, object]:
        """Every counter and timing as plain values (for logs and tests)."""
        values: dict[str, object] = {}
        for spec in fields(self):
            name = spec.name
            value = getattr(self, name)
            if isinstance(value, Timing):
                values[name] = value.summary()
            elif isinstance(value, Counter):
                values[name] = dict(value)
            else:
                values[name] = value
        return values
