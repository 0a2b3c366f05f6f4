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
