"""Keeps two of the router's agents off one run while a transition of it is in flight.

Two agents change runs: ``drive_runs`` (commands from the results topic) and
``route_events`` (starts, when the event was read from the run's own
partition). A transition reads the state, writes its effects, waits for
Kafka's acknowledgement and only then stores the new state. A second
transition of the same run in that window would read the old state, and one
store would undo the other; so each holds its runs and waits for runs that
another holds. A holder never waits while it holds, so two cannot deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager


class RunGuard:
    def __init__(self) -> None:
        self._held: dict[str, asyncio.Future[None]] = {}

    @asynccontextmanager
    async def hold(self, run_ids: Iterable[str]) -> AsyncIterator[None]:
        """Wait until no other holder has any of ``run_ids``, then hold them all."""
        ids = set(run_ids)
        while busy := {self._held[run_id] for run_id in ids if run_id in self._held}:
            await asyncio.wait(busy)
        released: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for run_id in ids:
            self._held[run_id] = released
        try:
            yield
        finally:
            for run_id in ids:
                del self._held[run_id]
            released.set_result(None)

    def held(self) -> int:
        """How many runs are held now (for tests and stats)."""
        return len(self._held)
