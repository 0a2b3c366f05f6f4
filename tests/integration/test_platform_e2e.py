"""The whole platform, real processes: event in, functions run to their end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Platform

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def platform(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with Platform(kafka_bootstrap, Path(tmp_path_factory.mktemp("platform"))) as running:
        yield running


def test_an_event_runs_its_function_to_completion(platform: Platform) -> None:
    [event_id] = platform.send({"name": "test/three", "data": {"n": 1}})
    [run] = platform.wait_runs([event_id])[event_id]
    assert run["status"] == "completed", run
    assert run["function_id"] == "three-steps"
    assert run["output"] == {"n": 1, "steps": ["a", "b", "c"]}
    assert [(s["id"], s["status"], s["output"]) for s in run["steps"]] == [
        ("a", "completed", "a"),
        ("b", "completed", "b"),
        ("c", "completed", "c"),
    ]
    full = platform.run(run["id"])
    assert full is not None
    assert full["event_id"] == event_id


def test_parallel_steps_each_run_once(platform: Platform) -> None:
    [event_id] = platform.send({"name": "test/fan", "data": {}})
    [run] = platform.wait_runs([event_id])[event_id]
    assert run["status"] == "completed", run
    assert run["output"] == [0, 1, 4]
    executions = platform.step_executions()
    assert [executions[(run["id"], f"sq{x}")] for x in range(3)] == [1, 1, 1]


def test_a_failed_run_triggers_the_failure_function(platform: Platform) -> None:
    [event_id] = platform.send({"name": "test/fail", "data": {}})
    [run] = platform.wait_runs([event_id])[event_id]
    assert run["status"] == "failed"
    assert "NonRetriableError: no" in run["error"]["message"]
    assert run["steps"][0]["status"] == "failed"
    assert run["steps"][0]["attempts"] == 1, "a non-retriable error is not retried"
    # The failure event starts the watcher with the failed run's id.
    deadline_runs = platform.wait_failure_runs(run["id"])
    assert deadline_runs["output"] == {"handled": run["id"]}


def test_two_routers_split_the_work_and_agree(platform: Platform) -> None:
    second = platform.add_router()
    # Both routers hold partitions once the group has rebalanced.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "Worker]: Ready" not in second.tail(400):
        time.sleep(0.2)
    event_ids = platform.send([{"name": "test/three", "data": {"n": i}} for i in range(60)])
    runs = platform.wait_runs(event_ids, timeout=120)
    assert all(len(r) == 1 for r in runs.values()), "one run per event, not one per router"
    assert {r[0]["status"] for r in runs.values()} == {"completed"}
    outputs = sorted(r[0]["output"]["n"] for r in runs.values())
    assert outputs == list(range(60))
    # The second router was assigned partitions of the results topic (Faust logs its
    # assignment as a table naming each topic).
    log = second.log.read_text()
    assigned_at = log.rfind("Setting newly assigned partitions")
    assert assigned_at >= 0
    assert platform.env["WEIR_TOPIC_PREFIX"] + "results" in log[assigned_at:]
