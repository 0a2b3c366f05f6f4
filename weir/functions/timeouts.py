"""``timeouts=Timeouts(start=..., finish=...)``: how long a run may take to start and to end.

Both are counted from when the run's event was queued for the function:
``start`` bounds the wait for its first call (a backlog, a paused app),
``finish`` the whole run, sleeps and waits included. A run over either limit
is cancelled by the router with a reason that names it (docs/protocol.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from weir.errors import TimeoutsInvalidError
from weir.functions.config import TimeoutsConfig


@dataclass(frozen=True)
class Timeouts:
    """Limits on a run's time; each a timedelta or seconds, None for no limit."""

    start: timedelta | float | None = None
    finish: timedelta | float | None = None


def resolve_timeouts(timeouts: object) -> TimeoutsConfig | None:
    """The registered form of ``timeouts`` (None: no limits); TimeoutsInvalidError if unusable."""
    if timeouts is None:
        return None
    if not isinstance(timeouts, Timeouts):
        raise TimeoutsInvalidError(
            f"timeouts is a Timeouts(start=..., finish=...), not {timeouts!r}"
        )
    start = _seconds(timeouts.start, "start")
    finish = _seconds(timeouts.finish, "finish")
    if start is None and finish is None:
        return None
    return TimeoutsConfig(start=start, finish=finish)


def _seconds(value: object, which: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TimeoutsInvalidError(f"timeouts.{which} is a timedelta or seconds, not {value!r}")
    if not 0 < seconds < math.inf:
        raise TimeoutsInvalidError(f"timeouts.{which} must be positive, not {seconds}s")
    return seconds
