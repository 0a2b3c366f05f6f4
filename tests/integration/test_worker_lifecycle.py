"""The worker's life around the calls: long calls, kill -9, SIGTERM, and its URL policy.

Each test starts its own worker (its settings differ), against a real broker
and the real test app of tests/integration/test_worker_app.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from services.common.records import Task, dumps
from services.common.topics import Topics
from services.worker.config import group_id
from services.worker.fence import HOLD_SECONDS
from services.worker.testing import (
    RecordReader,
    WorkerProcess,
    WorkerThread,
    committed_offsets,
    create_platform_topics,
    delete_topics,
)
from tests.integration.test_worker_app import APP_ID, CALLS, KEY, AppServer, make_task
from tests.support.kafka import unique
from weir.functions.protocol import CompleteResponse, FailedResponse
from weir.settings import Settings

pytestmark = pytest.mark.kafka

PARTITIONS = 2


@pytest.fixture(scope="module")
def app() -> Iterator[AppServer]:
    with AppServer() as server:
        yield server


@pytest.fixture
def settings(kafka_bootstrap: str) -> Iterator[Settings]:
    """A fresh deployment (own topic prefix, so own topics and consumer group)."""
    made = Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=unique("wl") + ".",
        platform_partitions=PARTITIONS,
        signing_key=SecretStr(KEY),
        dev=False,
        worker_allow_private_urls=True,
        retry_base_seconds=0.2,
    )
    names = create_platform_topics(made, [Topics(made).task(APP_ID, "sleeper")])
    yield made
    delete_topics(made, names)


def send(settings: Settings, task: Task, partition: int = -1) -> tuple[int, int]:
    """Write one task (to ``partition``, or by key); its (partition, offset)."""
    where: list[tuple[int, int]] = []
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(
        Topics(settings).task(task.app_id, task.function_id),
        key=task.run_id.encode(),
        value=dumps(task),
        partition=partition,
        on_delivery=lambda err, msg: where.append((msg.partition(), msg.offset())),
    )
    assert producer.flush(10) == 0
    return where[0]


def wait_for_calls(run_id: str, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(CALLS[run_id]) < count:
        assert time.monotonic() < deadline, f"the app saw {len(CALLS[run_id])} calls of {run_id}"
        time.sleep(0.02)


def test_private_urls_are_refused_outside_dev_mode(app: AppServer, settings: Settings) -> None:
    strict = settings.model_copy(update={"worker_allow_private_urls": None})
    assert strict.dev is False
    # Only local addresses here, so that even a broken policy sends nothing off this
    # machine; private and link-local ranges are covered by the unit tests.
    runs = {
        unique("loopback"): app.endpoint,
        unique("localhost"): app.endpoint.replace("127.0.0.1", "localhost"),
        unique("ipv6-loopback"): app.endpoint.replace("127.0.0.1", "[::1]"),
        unique("unspecified"): app.endpoint.replace("127.0.0.1", "0.0.0.0"),
    }
    with RecordReader(strict) as reader, WorkerThread(strict):
        for run_id, url in runs.items():
            send(strict, make_task("sleeper", run_id, url, retries=3))
        for run_id, url in runs.items():
            [outcome] = reader.wait_outcomes(run_id)
            assert outcome.attempts == 1  # refused at once, never retried
            assert isinstance(outcome.response, FailedResponse)
            error = outcome.response.error
            assert (error.code, error.retryable) == ("app_url_forbidden", False), url
            assert url in error.message
    assert all(CALLS[run_id] == [] for run_id in runs)  # no call was made


def test_a_call_longer_than_max_poll_interval_causes_no_rebalance(
    app: AppServer, settings: Settings
) -> None:
    slow = settings.model_copy(update={"worker_call_timeout": 30.0})
    run_id = unique("long")
    consumer_overrides = {
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "max.poll.interval.ms": 8000,
    }
    with (
        RecordReader(slow) as reader,
        WorkerThread(slow, consumer_overrides=consumer_overrides) as worker,
    ):
        topic = Topics(slow).task(APP_ID, "sleeper")
        worker.wait_assigned(topic, PARTITIONS)
        send(slow, make_task("sleeper", run_id, app.endpoint, data={"sleep": 12}))
        [outcome] = reader.wait_outcomes(run_id, timeout=30)
        time.sleep(0.5)  # a second outcome, if the task were delivered twice, shows up by now
        outcomes = reader.outcomes[run_id]
        stats = worker.worker.stats
        assert (stats.partitions_revoked, stats.partitions_lost) == (0, 0)
        assert stats.partitions_assigned == PARTITIONS
    assert len(outcomes) == 1
    assert outcome.attempts == 1
    assert isinstance(outcome.response, CompleteResponse)
    assert len(CALLS[run_id]) == 1


def test_kill_9_mid_call_redelivers_the_task_and_sigterm_drains_the_call_in_flight(
    app: AppServer, settings: Settings, tmp_path: Path
) -> None:
    env = {
        "WEIR_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "WEIR_TOPIC_PREFIX": settings.topic_prefix,
        "WEIR_PLATFORM_PARTITIONS": str(PARTITIONS),
        "WEIR_SIGNING_KEY": KEY,
        "WEIR_DEV": "0",
        "WEIR_WORKER_ALLOW_PRIVATE_URLS": "1",
        "WEIR_WORKER_INSTANCE": unique("worker"),  # static membership: a restart rejoins at once
        "WEIR_WORKER_LOG_LEVEL": "DEBUG",
    }
    run_id = unique("killed")
    topic = Topics(settings).task(APP_ID, "sleeper")
    with RecordReader(settings) as reader:
        first = WorkerProcess(env, tmp_path / "first.log").start()
        try:
            first.wait_for_log("assigned")
            partition, offset = send(
                settings, make_task("sleeper", run_id, app.endpoint, data={"sleep": 2.5})
            )
            wait_for_calls(run_id, 1)
            first.kill()  # mid-call: the app is still sleeping
        finally:
            first.ensure_stopped()
        assert reader.outcomes[run_id] == []
        assert committed_offsets(settings, group_id(settings), topic).get(partition, 0) <= offset

        second = WorkerProcess(env, tmp_path / "second.log").start()
        try:
            wait_for_calls(run_id, 2)  # delivered again: nothing was committed for it
            returncode = second.terminate()  # while the second call is in flight
        finally:
            second.ensure_stopped()
        log = second.log()
        assert returncode == 0, log
        assert "waiting up to" in log
        [outcome] = reader.wait_outcomes(run_id, timeout=5)
        time.sleep(0.5)
        assert len(reader.outcomes[run_id]) == 1, "one outcome, reported once"
    assert isinstance(outcome.response, CompleteResponse)
    assert outcome.response.output == "awake"
    # The app ran the (unrecorded) call twice: the one duplicate at-least-once allows.
    assert [attempt for _, attempt in CALLS[run_id]] == [0, 0]
    assert committed_offsets(settings, group_id(settings), topic)[partition] == offset + 1

    # Everything is committed now: the third worker finds no backlog to hold
    # (the old partition is read to its end already), so nothing is held until
    # the hold's time limit, and a new task is called at once.
    third = WorkerProcess(env, tmp_path / "third.log").start()
    try:
        third.wait_for_log("assigned")
        fresh = unique("fresh")
        began = time.monotonic()
        task = make_task("sleeper", fresh, app.endpoint, data={"sleep": 0})
        send(settings, task, partition=(partition + 1) % PARTITIONS)
        wait_for_calls(fresh, 1)
        waited = time.monotonic() - began
        time.sleep(HOLD_SECONDS + 0.5)
    finally:
        third.terminate()
        third.ensure_stopped()
    assert waited < 1.5, f"a new task waited {waited:.1f}s"
    assert "hold timed out" not in third.log(), "a caught-up partition was held"


def test_stopping_finishes_the_call_under_way_and_leaves_waiting_tasks_to_the_next_worker(
    app: AppServer, settings: Settings
) -> None:
    one_at_a_time = settings.model_copy(update={"worker_concurrency": 1})
    topic = Topics(one_at_a_time).task(APP_ID, "sleeper")
    runs = [unique("queued") for _ in range(3)]
    with RecordReader(one_at_a_time) as reader:
        worker = WorkerThread(one_at_a_time).__enter__()
        try:
            worker.wait_assigned(topic, PARTITIONS)
            where = [
                send(
                    one_at_a_time,
                    make_task("sleeper", run, app.endpoint, data={"sleep": 1.0}),
                    partition=0,
                )
                for run in runs
            ]
            wait_for_calls(runs[0], 1)
        finally:
            worker.stop()  # the first call is under way, the other two wait for the slot
        [first] = reader.wait_outcomes(runs[0], timeout=5)
        assert isinstance(first.response, CompleteResponse)
        assert [len(CALLS[run]) for run in runs] == [1, 0, 0]
        group = group_id(one_at_a_time)
        assert committed_offsets(one_at_a_time, group, topic)[0] == where[0][1] + 1
        with WorkerThread(one_at_a_time):  # the next worker picks up the two left over
            for run in runs[1:]:
                [outcome] = reader.wait_outcomes(run, timeout=10)
                assert isinstance(outcome.response, CompleteResponse)
    assert [len(CALLS[run]) for run in runs] == [1, 1, 1]
