"""Sleeps, waits, cancel_on, invoke, cron and timeouts on the whole platform (real processes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Platform

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def platform(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with Platform(kafka_bootstrap, Path(tmp_path_factory.mktemp("time"))) as running:
        yield running


def test_a_sleep_resumes_the_run_after_its_duration(platform: Platform) -> None:
    sent = time.time() * 1000
    [event_id] = platform.send({"name": "test/nap", "data": {"seconds": 1.5}})
    [run] = platform.wait_runs([event_id])[event_id]
    assert run["status"] == "completed", run
    woke = run["output"]["woke"]
    assert 1500 <= woke - sent < 3500, woke - sent
    assert [s["id"] for s in run["steps"]] == ["nap", "woke"]


def test_a_matching_event_resumes_the_wait(platform: Platform) -> None:
    [cart] = platform.send({"name": "test/cart", "data": {"cart_id": "c-1", "timeout": 30}})
    platform.wait_status(cart, "waiting")
    [paid] = platform.send({"name": "test/checkout", "data": {"cart_id": "c-1"}})
    [run] = platform.wait_runs([cart])[cart]
    assert run["output"] == {"checked_out": True, "by": paid}, (run, platform.logs())


def test_an_event_for_another_cart_does_not_and_the_wait_times_out(platform: Platform) -> None:
    [cart] = platform.send({"name": "test/cart", "data": {"cart_id": "c-2", "timeout": 2}})
    platform.wait_status(cart, "waiting")
    platform.send({"name": "test/checkout", "data": {"cart_id": "someone-else"}})
    [run] = platform.wait_runs([cart])[cart]
    assert run["output"] == {"checked_out": False}, run


def test_an_event_accepted_before_the_wait_is_stored_still_resumes_it(
    platform: Platform,
) -> None:
    [cart] = platform.send({"name": "test/cart.race", "data": {"cart_id": "c-3"}})
    [run] = platform.wait_runs([cart])[cart]
    assert run["output"] == {"checked_out": True}, run
