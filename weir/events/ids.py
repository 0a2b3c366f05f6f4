"""Event ids: UUIDv7 strings (RFC 9562), time-ordered and unique without coordination.

The first 48 bits are the Unix time in milliseconds, so ids sort by creation
time (as strings too) and tell when an event was made. The 12 bits after the
version are random per millisecond; the last 62 bits start at a random value
each millisecond and count up within it, so the ids one process makes are
strictly increasing even when thousands share a millisecond (and stay put if
the clock steps back).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator

_VARIANT = 0b10 << 62
_lock = threading.Lock()
# (millisecond, "tttttttt-tttt-7rrr-", counter of the last 62 bits); replaced as a whole
_state: tuple[int, str, Iterator[int]] = (-1, "", itertools.count())


def new_event_id() -> str:
    """A fresh UUIDv7 string such as ``0190b6d0-9f2c-7c3a-8d4e-5f6a7b8c9d0e``."""
    now_ms = time.time_ns() // 1_000_000
    state = _state
    if now_ms > state[0]:
        state = _next_millisecond(now_ms)
    low = f"{next(state[2]) | _VARIANT:016x}"  # next() on a count is atomic under the GIL
    return f"{state[1]}{low[:4]}-{low[4:]}"


def _next_millisecond(now_ms: int) -> tuple[int, str, Iterator[int]]:
    global _state
    with _lock:
        if now_ms > _state[0]:
            rand = int.from_bytes(os.urandom(10), "big")
            rand_a = rand >> 68  # 12 bits
            start = rand & ((1 << 61) - 1)  # 61 of the 62 bits: counting up cannot overflow
            ms = f"{now_ms:012x}"
            _state = (now_ms, f"{ms[:8]}-{ms[8:]}-7{rand_a:03x}-", itertools.count(start))
        return _state


def event_id_ms(event_id: str) -> int | None:
    """The creation time (ms since the epoch) of a UUIDv7 id; None for other ids."""
    text = event_id.replace("-", "")
    if len(text) != 32 or text[12] != "7":
        return None
    try:
        return int(text[:12], 16)
    except ValueError:
        return None
