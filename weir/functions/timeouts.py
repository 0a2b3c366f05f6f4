"""``timeouts=Timeouts(start=..., finish=...)``: how long a run may take to start and to end.

Both are counted from when the run's event was queued for the function:
``start`` bounds the wait for its first call (a backlog, a paused app),
``finish`` the whole run, sleeps and waits included. A run over either limit
is cancelled by the router with a reason that names it (docs/protocol.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from weir.errors import TimeoutsInvalidError
from weir.functions.config import TimeoutsConfig
from weir.functions.durations import positive_seconds


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
    start = positive_seconds(timeouts.start, "timeouts.start", TimeoutsInvalidError)
    finish = positive_seconds(timeouts.finish, "timeouts.finish", TimeoutsInvalidError)
    if start is None and finish is None:
        return None
    return TimeoutsConfig(start=start, finish=finish)
