"""Sleeps, waits, cancel_on, invoke, cron and timeouts on the whole platform (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.platform import SIGNING_KEY, Platform
from weir.signing import SIGNATURE_HEADER, Signer

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


def test_invoke_returns_the_childs_output(platform: Platform) -> None:
    [event_id] = platform.send({"name": "test/parent", "data": {"child": {"x": 21}}})
    [run] = platform.wait_runs([event_id])[event_id]
    assert run["output"] == {"child": {"doubled": 42}}, run
    invoking = next(s for s in run["steps"] if s["id"] == "call-child")
    child_run = platform.run(invoking["detail"]["run_id"])
    assert child_run is not None
    assert child_run["status"] == "completed"
    assert child_run["function_id"] == "child"


def test_invoke_raises_the_childs_failure(platform: Platform) -> None:
    data = {"child": {"x": 1, "fail": True}}
    [event_id] = platform.send({"name": "test/parent", "data": data})
    [run] = platform.wait_runs([event_id])[event_id]
    assert run["output"] == {"error": "invoke_failed"}, run


def test_invoke_times_out_and_the_child_is_cancelled(platform: Platform) -> None:
    data = {"child": {"x": 1, "nap": 30}, "timeout": 1}
    [event_id] = platform.send({"name": "test/parent", "data": data})
    [run] = platform.wait_runs([event_id])[event_id]
    assert run["output"] == {"error": "invoke_timeout"}, run
    invoking = next(s for s in run["steps"] if s["id"] == "call-child")
    child_run = platform.wait_run_status(invoking["detail"]["run_id"], "cancelled")
    assert "timed out" in child_run["error"]["message"]


def test_a_cancel_on_event_cancels_the_run_between_steps(platform: Platform) -> None:
    [long_id] = platform.send({"name": "test/long", "data": {"id": "L1"}})
    run = platform.wait_status(long_id, "sleeping")
    platform.send({"name": "test/stop", "data": {"id": "someone-else"}})
    [stop_id] = platform.send({"name": "test/stop", "data": {"id": "L1"}})
    [run] = platform.wait_runs([long_id])[long_id]
    assert run["status"] == "cancelled", run
    assert run["error"]["code"] == "cancelled_by_event"
    assert stop_id in run["error"]["message"], "the history says which event cancelled it"
    assert (run["id"], "never") not in platform.step_executions()


def test_a_run_past_its_finish_timeout_is_cancelled(platform: Platform) -> None:
    [event_id] = platform.send({"name": "test/slow", "data": {}})
    [run] = platform.wait_runs([event_id])[event_id]
    assert run["status"] == "cancelled", run
    assert run["error"]["code"] == "function_timeout"
    assert 1500 <= run["ended_at"] - run["queued_at"] < 4000


def test_a_run_that_could_not_start_in_time_is_cancelled_not_called(platform: Platform) -> None:
    platform.worker.kill9()
    try:
        [event_id] = platform.send({"name": "test/late", "data": {}})
        time.sleep(2)
    finally:
        platform.worker.start()
    [run] = platform.wait_runs([event_id])[event_id]
    assert run["status"] == "cancelled", run
    assert run["error"]["code"] == "function_start_timeout"
    assert (run["id"], "started") not in platform.step_executions()


def test_a_run_is_cancelled_through_the_api_and_the_cli(platform: Platform) -> None:
    [first, second] = platform.send(
        [
            {"name": "test/long", "data": {"id": "api-1"}},
            {"name": "test/long", "data": {"id": "api-2"}},
        ]
    )
    run = platform.wait_status(first, "sleeping")
    url = f"{platform.gateway_url}/v1/runs/{run['id']}/cancel"
    body = json.dumps({"reason": "the customer left"}).encode()

    unsigned = httpx.post(url, content=body, timeout=10)
    assert unsigned.status_code == 401, unsigned.text
    unknown = httpx.post(
        f"{platform.gateway_url}/v1/runs/nope/cancel", content=b"{}", headers=_signed(b"{}")
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "run_not_found"

    answer = httpx.post(url, content=body, headers=_signed(body), timeout=10)
    assert answer.status_code == 202, answer.text
    cancelled = platform.wait_run_status(run["id"], "cancelled")
    assert cancelled["error"]["code"] == "run_cancelled"
    assert cancelled["error"]["message"] == "the customer left"
    again = httpx.post(url, content=body, headers=_signed(body), timeout=10)
    assert again.status_code == 409
    assert again.json()["code"] == "run_ended"

    other = platform.wait_status(second, "sleeping")
    cli = subprocess.run(
        [sys.executable, "-m", "weir.cli", "runs", "cancel", other["id"], "--reason", "by hand"],
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert platform.wait_run_status(other["id"], "cancelled")["error"]["message"] == "by hand"


def _signed(body: bytes) -> dict[str, str]:
    return {SIGNATURE_HEADER: Signer(SIGNING_KEY).sign(body)}


def test_a_wait_with_an_expression_takes_the_event_it_holds_for(platform: Platform) -> None:
    [first] = platform.send({"name": "test/number.first", "data": {"seq": "s1", "n": 1}})
    platform.wait_status(first, "waiting")
    platform.send(
        [
            {"name": "test/number", "data": {"seq": "s1", "n": 5}},
            {"name": "test/number", "data": {"seq": "other", "n": 2}},
        ]
    )
    platform.send({"name": "test/number", "data": {"seq": "s1", "n": 2}})
    [run] = platform.wait_runs([first])[first]
    assert run["output"] == {"next": 2}, run
