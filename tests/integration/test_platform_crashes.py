"""Crashes lose nothing: 1,000 runs while the router and the worker are killed.

Every run of a 3-step function must complete although the router is killed
with SIGKILL and restarted three times and the worker twice while the runs
are in flight. A step whose result was recorded must never execute again; a
step may execute more than once only if it had not been recorded yet
(at-least-once), and the test reports how often that happened.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from services.common.partitions import partition_for
from services.common.records import Task, dumps, now_ms
from services.router.run_state import run_id_for
from tests.support.platform import Platform

pytestmark = pytest.mark.kafka

RUNS = 1000


@pytest.fixture
def platform(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Platform]:
    with Platform(kafka_bootstrap, tmp_path) as running:
        yield running


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "event_name",
    [
        "test/three",  # default checkpoint: the three steps share one call
        "test/three-stepwise",  # every step its own call
    ],
)
def test_runs_survive_router_and_worker_kills(platform: Platform, event_name: str) -> None:
    kills: list[str] = []
    failures: list[BaseException] = []

    def chaos() -> None:
        try:
            for victim in ["router", "worker", "router", "worker", "router"]:
                time.sleep(2.5)
                part = platform.router if victim == "router" else platform.worker
                part.kill9()
                kills.append(victim)
                time.sleep(0.5)
                part.start()
        except BaseException as exc:  # surfaced by the main thread
            failures.append(exc)

    killer = threading.Thread(target=chaos)
    killer.start()
    event_ids: list[str] = []
    try:
        while len(event_ids) < RUNS:
            batch = [{"name": event_name, "data": {"n": len(event_ids) + i}} for i in range(50)]
            event_ids += platform.send(batch)
            time.sleep(0.4)
    finally:
        killer.join()
    assert not failures, failures
    assert kills == ["router", "worker", "router", "worker", "router"]

    runs = platform.wait_runs(event_ids, timeout=300)
    statuses = [run["status"] for event_runs in runs.values() for run in event_runs]
    assert len(statuses) == RUNS, "each event started exactly one run"
    assert statuses.count("completed") == RUNS

    recorded_at = {
        (run["id"], step["id"]): step["recorded_at"]
        for event_runs in runs.values()
        for run in event_runs
        for step in run["steps"]
    }
    executions = platform.step_execution_times()
    after_record = [
        (key, at) for key, at in executions if recorded_at.get(key) and at > recorded_at[key]
    ]
    assert not after_record, f"recorded steps executed again: {after_record[:5]}"

    counts = platform.step_executions()
    assert set(counts) == set(recorded_at), "every recorded step executed at least once"
    repeated = sum(1 for n in counts.values() if n > 1)
    print(
        f"\n{event_name}: {RUNS} runs, {len(counts)} steps, kills={kills}: "
        f"{repeated} steps executed more than once "
        f"({sum(n - 1 for n in counts.values())} extra executions), "
        f"router starts={platform.router.starts}, worker starts={platform.worker.starts}"
    )


def test_a_start_replayed_after_its_first_task_ran_still_gets_that_outcome(
    platform: Platform,
) -> None:
    """The router died after a start's effects were written, before its state was stored.

    A start read from the events topic is not ordered with the outcomes on the
    results topic. So after such a crash the first task's outcome can reach the
    restarted router before the replayed event has started the run again; the
    router drops it (no such run yet), and the replayed start writes the first
    task a second time. The worker that ran the first copy must not leave the
    second unanswered, and must not run the step again either.

    The test builds that state without a crash: the first copy of the task is
    written by hand, run and answered before its event is sent.
    """
    app_id, function_id, name = "durable", "three-steps-stepwise", "test/three-stepwise"
    topics = platform.topics
    event_id = str(uuid.uuid4())
    home = (partition_for(event_id.encode(), topics.partitions), topics.partitions)
    run_id = run_id_for(event_id, app_id, function_id, home=home)
    event = {"name": name, "data": {"n": 7}, "id": event_id, "ts": now_ms(), "v": "1"}
    first_copy = Task(
        run_id=run_id,
        seq=0,
        app_id=app_id,
        function_id=function_id,
        url=platform.app_url,
        retries=4,
        event=event,
    )
    producer = Producer({"bootstrap.servers": platform.bootstrap})
    producer.produce(topics.task(app_id, function_id), key=run_id.encode(), value=dumps(first_copy))
    assert producer.flush(10) == 0
    platform.wait_log(platform.router, f"for unknown run {run_id}")
    assert platform.step_executions() == {(run_id, "a"): 1}

    platform.send({"name": name, "data": {"n": 7}, "id": event_id})

    [run] = platform.wait_runs([event_id], timeout=60)[event_id]
    assert run["id"] == run_id
    assert run["status"] == "completed"
    assert [step["id"] for step in run["steps"]] == ["a", "b", "c"]
    assert platform.step_executions() == {(run_id, s): 1 for s in ("a", "b", "c")}
