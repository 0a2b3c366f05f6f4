"""Where a request's time goes, sent back in a ``Server-Timing`` header.

Each stage (parse, validate, encode, produce) is timed with a monotonic
clock; the header (``parse;dur=0.041, validate;dur=0.210, ...``, in
milliseconds) lets a load generator, or a browser's developer tools, see the
split without a metrics system.
"""

from __future__ import annotations

from time import perf_counter


class Stopwatch:
    __slots__ = ("_last", "laps")

    def __init__(self) -> None:
        self._last = perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap (or the start) to ``stage``."""
        now = perf_counter()
        self.laps[stage] = self.laps.get(stage, 0.0) + (now - self._last)
        self._last = now

    def server_timing(self) -> str:
        return ", ".join(
            f"{stage};dur={seconds * 1000:.3f}" for stage, seconds in self.laps.items()
        )
