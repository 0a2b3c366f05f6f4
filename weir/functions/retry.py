"""The retry schedule: how long the platform waits before attempt ``n`` of a unit of work.

Shared by the worker (which applies it for real) and the in-memory test
executor (which only records it), so both follow the schedule documented in
docs/protocol.md: exponential growth from ``base`` by ``factor`` up to
``cap``, with +/- ``jitter`` so that many runs failing together (an outage)
do not retry in lockstep. A :class:`RetryAfterError` from the app replaces
the schedule with the time it asked for (bounded by ``RETRY_AFTER_MAX``).
"""

from __future__ import annotations

import random

BASE_SECONDS = 10.0
FACTOR = 2.0
CAP_SECONDS = 3600.0
JITTER = 0.25
RETRY_AFTER_MAX = 7 * 24 * 3600.0


def retry_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
    base: float = BASE_SECONDS,
    cap: float = CAP_SECONDS,
) -> float:
    """Seconds to wait before ``attempt`` (1 is the first retry; 0 means no wait)."""
    if attempt <= 0:
        return 0.0
    if retry_after is not None:
        return min(max(0.0, retry_after), RETRY_AFTER_MAX)
    nominal = min(cap, base * FACTOR ** (attempt - 1))
    spread = (rng or random).uniform(1.0 - JITTER, 1.0 + JITTER)
    return nominal * spread
