"""Durations users give as a timedelta or a number of seconds (timeouts, limits)."""

from __future__ import annotations

import math
from datetime import timedelta

from weir.errors import WeirError


def positive_seconds(value: object, what: str, error: type[WeirError]) -> float | None:
    """``value`` in seconds (None stays None); ``error`` naming ``what`` unless it is a
    positive, finite timedelta or number."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise error(f"{what} is a timedelta or seconds, not {value!r}")
    if not 0 < seconds < math.inf:
        raise error(f"{what} must be positive, not {seconds}s")
    return seconds
