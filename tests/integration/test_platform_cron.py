"""Cron triggers on the whole platform: one run per tick, never two.

The app's ``ticker`` function runs every 2 seconds (a six-field schedule,
seconds first). Across a router killed with SIGKILL and restarted, and with
a second router sharing the partitions, every tick runs once; of the ticks
missed while no router ran, only the latest runs (docs/architecture.md,
the catch-up policy).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Platform

pytestmark = pytest.mark.kafka
EVERY = 2


@pytest.fixture(scope="module")
def platform(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    workdir = Path(tmp_path_factory.mktemp("cron"))
    cron = f"*/{EVERY} * * * * *"
    with Platform(kafka_bootstrap, workdir, DURABLE_APP_CRON=cron) as running:
        yield running


def ticks(platform: Platform) -> dict[int, set[str]]:
    """Tick (epoch seconds) -> the runs that executed it."""
    runs: dict[int, set[str]] = defaultdict(set)
    for (run_id, label), _count in platform.step_executions().items():
        if label.startswith("tick@"):
            runs[int(label.removeprefix("tick@"))].add(run_id)
    return runs


def executions_per_tick(platform: Platform) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for (_run_id, label), count in platform.step_executions().items():
        if label.startswith("tick@"):
            counts[int(label.removeprefix("tick@"))] += count
    return counts


def wait_ticks_after(platform: Platform, after: float, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for tick in ticks(platform) if tick > after) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"fewer than {count} ticks after {after}: {sorted(ticks(platform))}")


def assert_each_tick_once(platform: Platform) -> None:
    seen = ticks(platform)
    assert all(len(runs) == 1 for runs in seen.values()), {
        t: r for t, r in seen.items() if len(r) > 1
    }
    assert all(count == 1 for count in executions_per_tick(platform).values())
    assert all(tick % EVERY == 0 for tick in seen)


def test_every_tick_runs_once_across_a_router_kill(platform: Platform) -> None:
    wait_ticks_after(platform, time.time(), 3)
    killed_at = time.time()
    platform.router.kill9()
    time.sleep(3 * EVERY + 1)
    restarted_at = time.time()
    platform.router.start()
    wait_ticks_after(platform, time.time(), 3)
    assert_each_tick_once(platform)

    seen = sorted(ticks(platform))
    missed = [t for t in seen if killed_at + 1 < t < restarted_at]
    assert len(missed) <= 1, f"only the latest missed tick catches up: {missed}"
    after = [t for t in seen if t > restarted_at + EVERY]
    assert after == list(range(after[0], after[-1] + 1, EVERY)), "no tick skipped after restart"


def test_two_routers_run_each_tick_once(platform: Platform) -> None:
    platform.add_router()
    joined = time.time()
    wait_ticks_after(platform, joined, 5)
    assert_each_tick_once(platform)
    after = [t for t in sorted(ticks(platform)) if t > joined]
    assert after == list(range(after[0], after[-1] + 1, EVERY)), "no tick skipped by the move"
