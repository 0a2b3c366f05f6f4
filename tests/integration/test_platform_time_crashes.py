"""Waits and sleeps survive a SIGKILL of every platform process.

200 runs wait for a checkout event (60 s timeout) and 20 runs sleep. Then
registry, gateway, router, worker and app are all killed with SIGKILL and
started again. Checkouts are sent for half of the carts: those runs resume
exactly once; the others time out within their timeout plus 5 s. Every
sleep fires once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.records import TaskDone, task_record_adapter
from services.worker.testing import RecordReader
from tests.support.kafka import read_to_end
from tests.support.platform import Platform

pytestmark = pytest.mark.kafka

CARTS = 200
NAPS = 20
TIMEOUT = 60
NAP_SECONDS = 20


@pytest.fixture
def platform(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Platform]:
    with Platform(kafka_bootstrap, tmp_path) as running:
        yield running


@pytest.mark.timeout(400)
def test_waits_and_sleeps_survive_killing_every_process(platform: Platform) -> None:
    carts = [
        {"name": "test/cart", "data": {"cart_id": f"k{i}", "timeout": TIMEOUT}}
        for i in range(CARTS)
    ]
    cart_events = platform.send(carts)
    nap_sent = time.time() * 1000
    nap_events = platform.send(
        [{"name": "test/nap", "data": {"seconds": NAP_SECONDS}} for _ in range(NAPS)]
    )
    waiting = {e: platform.wait_status(e, "waiting", timeout=60) for e in cart_events}
    for e in nap_events:
        platform.wait_status(e, "sleeping", timeout=60)

    parts = [platform.app, platform.worker, *platform.routers, platform.gateway, platform.registry]
    for part in parts:
        part.kill9()
    for part in reversed(parts):
        part.start()
    platform.wait_registered()

    paid = cart_events[::2]
    index = {e: i for i, e in enumerate(cart_events)}
    checkout_ids = platform.send(
        [{"name": "test/checkout", "data": {"cart_id": f"k{index[e]}"}} for e in paid]
    )

    runs = platform.wait_runs(cart_events, timeout=TIMEOUT + 60)
    executions = platform.step_executions()
    for event_id in cart_events:
        [run] = runs[event_id]
        assert run["status"] == "completed", run
        if event_id in paid:
            assert run["output"]["checked_out"] is True, run
            assert run["output"]["by"] in checkout_ids
            assert executions[(run["id"], "thank")] == 1, "resumed exactly once"
            assert (run["id"], "remind") not in executions
        else:
            assert run["output"] == {"checked_out": False}, run
            until = next(s for s in waiting[event_id]["steps"] if s["id"] == "checkout")
            due = until["detail"]["until"]
            assert run["ended_at"] <= due + 5000, (run["ended_at"] - due, run)
            assert executions[(run["id"], "remind")] == 1
            assert (run["id"], "thank") not in executions

    naps = platform.wait_runs(nap_events, timeout=60)
    for event_id in nap_events:
        [run] = naps[event_id]
        assert run["status"] == "completed", run
        assert run["output"]["woke"] - nap_sent >= NAP_SECONDS * 1000
        assert executions[(run["id"], "woke")] == 1, "the sleep fired once"


AFTER = 3.0  # the retry delay asked for: past the worker's hold (retry_hold_seconds, 2 s)


@pytest.mark.timeout(200)
def test_a_long_retry_delay_is_kept_across_killing_the_worker_and_the_router(
    platform: Platform,
) -> None:
    """A delay longer than the worker's hold goes to the router's timers.

    The worker answers the first attempt with a ``retry`` outcome and lets
    the task go; both are killed during the delay. The retry still comes,
    as attempt 1, no sooner than asked: the first attempt never runs again.
    """
    with RecordReader(platform.settings) as reader:
        [event_id] = platform.send({"name": "test/retry-later", "data": {"after": AFTER}})
        deadline = time.monotonic() + 30
        while not platform.runs_of(event_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        run_id = platform.runs_of(event_id)[0]["id"]
        [first] = reader.wait_outcomes(run_id, 1)
    assert first.retry is not None, "the worker handed the delay over"
    assert first.retry.attempt == 1
    # Killed before the router recorded it, the task would run again from attempt 0.
    wait_for_fence(platform, "retries-later", run_id, seq=0)

    for part in (platform.worker, platform.router):
        part.kill9()
    for part in (platform.router, platform.worker):
        part.start()

    run = platform.wait_status(event_id, "completed", timeout=90)
    assert run["output"] == {"out": "ok"}
    [step] = run["steps"]
    assert (step["id"], step["status"], step["attempts"]) == ("call", "completed", 2)
    times = platform.step_execution_times()
    calls = [(step_id, at) for (rid, step_id), at in times if rid == run_id]
    assert [step_id for step_id, _ in calls] == ["call@0", "call@1"]
    assert calls[1][1] - calls[0][1] >= AFTER * 1000


def wait_for_fence(platform: Platform, function_id: str, run_id: str, seq: int) -> None:
    """Until the router's TaskDone for (run, seq) is in the function's task topic."""
    topic = platform.topics.task("durable", function_id)
    fence = TaskDone(run_id=run_id, seq=seq)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        records = [
            task_record_adapter.validate_json(m.value())
            for m in read_to_end(platform.bootstrap, topic)
        ]
        if fence in records:
            return
        time.sleep(0.1)
    raise AssertionError(f"no TaskDone for {run_id}/{seq}")
