"""The worker against a real broker and a real app over real HTTP.

One worker (in a thread of this process) serves every test of this module:
its consumer group joins once, over task topics created up front. Each test
writes ``Task`` records straight into a function's task topic, as the router
would, and reads the worker's ``TaskOutcome`` and history records back from
the results and runs topics. Retry delays run on a 0.2 s base so the whole
schedule is measured for real, in seconds rather than minutes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from services.common.records import HistoryRecord, Task, dumps
from services.common.topics import Topics
from services.worker.config import group_id
from services.worker.testing import (
    RecordReader,
    WorkerThread,
    committed_offsets,
    create_platform_topics,
    delete_topics,
    end_offset,
)
from tests.integration.test_worker_app import (
    APP_ID,
    CALLS,
    FUNCTIONS,
    HITS,
    KEY,
    RAN,
    RETRY_AFTER_SECONDS,
    AppServer,
    Concurrency,
    ResetServer,
    gaps,
    make_task,
)
from tests.support.kafka import unique
from weir.functions.protocol import (
    CompleteResponse,
    FailedResponse,
    StepRecord,
    StepResponse,
)
from weir.settings import Settings

pytestmark = pytest.mark.kafka

BASE = 0.2  # retry_base_seconds of this module's worker
CALL_TIMEOUT = 1.0
BACKLOG = 50  # records waiting beyond the 50 calls in flight before fetching pauses
# How much later than its delay a retry may land: the call itself, the loop's
# scheduling and the app's thread on a busy two-core machine.
LATE = 0.3


class Harness:
    def __init__(
        self, settings: Settings, app: AppServer, reader: RecordReader, worker: WorkerThread
    ) -> None:
        self.settings = settings
        self.worker = worker
        self.extra_topics: list[str] = []  # deleted after the worker stopped
        self.app = app
        self.reader = reader
        self.topics = Topics(settings)
        self.producer = Producer(
            {"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True}
        )

    def send(self, *tasks: Task, partition: int | None = None) -> None:
        for task in tasks:
            topic = self.topics.task(task.app_id, task.function_id)
            key = task.run_id.encode()
            if partition is None:
                self.producer.produce(topic, key=key, value=dumps(task))
            else:
                self.producer.produce(topic, key=key, value=dumps(task), partition=partition)
        assert self.producer.flush(10) == 0

    def history(
        self, run_id: str, kind: str, count: int, timeout: float = 10
    ) -> list[HistoryRecord]:
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.reader.history_of(run_id) if r.type == kind]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


@pytest.fixture(scope="module")
def harness(kafka_bootstrap: str) -> Iterator[Harness]:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=unique("wt") + ".",
        platform_partitions=3,
        signing_key=SecretStr(KEY),
        dev=False,
        worker_allow_private_urls=True,  # the app is on loopback
        worker_call_timeout=CALL_TIMEOUT,
        worker_concurrency=50,
        retry_base_seconds=BASE,
        worker_shutdown_timeout=5,
    )
    topics = Topics(settings)
    task_topics = [topics.task(APP_ID, fn) for fn in FUNCTIONS]
    names = create_platform_topics(settings, task_topics)
    extra: list[str] = []
    try:
        with (
            AppServer() as app,
            RecordReader(settings) as reader,
            WorkerThread(settings, backlog=BACKLOG) as worker,
        ):
            for topic in task_topics:
                worker.wait_assigned(topic, settings.platform_partitions)
            made = Harness(settings, app, reader, worker)
            made.extra_topics = extra
            yield made
            stats = worker.worker.stats
            # The whole module ran without a rebalance taking a partition away.
            assert stats.partitions_revoked == 0
            assert stats.outcome_report_failures == 0
    finally:
        delete_topics(settings, names + extra)


def test_a_three_step_function_runs_to_completion(harness: Harness) -> None:
    run_id = unique("run")
    steps: list[StepRecord] = []
    seen: list[str] = []
    for seq in range(6):
        harness.send(make_task("three-steps", run_id, harness.app.endpoint, seq=seq, steps=steps))
        outcome = harness.reader.wait_outcomes(run_id, seq + 1)[-1]
        assert (outcome.seq, outcome.attempts) == (seq, 1)
        answer = outcome.response
        seen.append(answer.outcome)
        if isinstance(answer, CompleteResponse):
            break
        assert isinstance(answer, StepResponse)
        assert answer.step.error is None
        steps = [*steps, StepRecord(id=answer.step.id, data=answer.step.data)]
    assert seen == ["step", "step", "step", "complete"]
    assert answer.output == {"a": 1, "b": 2, "c": 3}
    assert [attempt for _, attempt in CALLS[run_id]] == [0, 0, 0, 0]
    # The app, outside dev mode, accepted every signed call; history saw the run start.
    started = harness.history(run_id, "run.started", 1)
    assert len(started) == 1
    assert started[0].event_id == f"ev-{run_id}"
    assert {r.step_id for r in harness.history(run_id, "step.started", 3)} == {"a", "b", "c"}


def assert_schedule(harness: Harness, run_id: str, times: list[float], retries: int) -> None:
    """Each gap between attempts is the recorded jittered delay, and it grows as specified."""
    retrying = harness.history(run_id, "step.retrying", retries)
    assert [r.attempt for r in retrying] == list(range(1, retries + 1))
    delays = [float(r.data["delay"]) for r in retrying]  # type: ignore[index, call-overload]
    for n, (delay, gap) in enumerate(zip(delays, gaps(times), strict=True), start=1):
        nominal = BASE * 2 ** (n - 1)
        assert 0.75 * nominal - 0.001 <= delay <= 1.25 * nominal + 0.001
        assert delay - 0.01 <= gap <= delay + LATE, (n, delay, gap)


def test_a_function_that_raises_is_retried_with_growing_delays_then_fails(
    harness: Harness,
) -> None:
    run_id = unique("run")
    harness.send(make_task("raises", run_id, harness.app.endpoint, retries=3))
    outcome = harness.reader.wait_outcomes(run_id)[0]
    assert outcome.attempts == 4
    assert isinstance(outcome.response, FailedResponse)
    assert outcome.response.error.name == "RuntimeError"
    assert outcome.response.error.message == "boom"
    assert [attempt for _, attempt in CALLS[run_id]] == [0, 1, 2, 3]
    assert_schedule(harness, run_id, [t for t, _ in CALLS[run_id]], retries=3)


def test_a_non_retriable_step_error_ends_the_task_at_once(harness: Harness) -> None:
    run_id = unique("run")
    harness.send(make_task("non-retriable", run_id, harness.app.endpoint))
    outcome = harness.reader.wait_outcomes(run_id)[0]
    assert outcome.attempts == 1
    answer = outcome.response
    assert isinstance(answer, StepResponse)
    assert answer.step.id == "charge"
    assert answer.step.error is not None
    assert (answer.step.error.code, answer.step.error.retryable) == ("non_retriable", False)
    assert len(CALLS[run_id]) == 1
    failed = harness.history(run_id, "step.failed", 1)
    assert [(r.step_id, r.error and r.error.code) for r in failed] == [("charge", "non_retriable")]
    assert harness.history(run_id, "step.retrying", 1, timeout=0.3) == []


def test_retry_after_replaces_the_schedule(harness: Harness) -> None:
    run_id = unique("run")
    harness.send(make_task("retry-after", run_id, harness.app.endpoint))
    outcome = harness.reader.wait_outcomes(run_id)[0]
    assert outcome.attempts == 2
    answer = outcome.response
    assert isinstance(answer, StepResponse)
    assert (answer.step.id, answer.step.data, answer.step.error) == ("limited", "ok", None)
    [retrying] = harness.history(run_id, "step.retrying", 1)
    assert retrying.error is not None
    assert retrying.error.code == "retry_after"
    delay = float(retrying.data["delay"])  # type: ignore[index, call-overload]
    assert RETRY_AFTER_SECONDS - 0.05 <= delay <= RETRY_AFTER_SECONDS  # no jitter
    [gap] = gaps([t for t, _ in CALLS[run_id]])
    assert delay - 0.01 <= gap <= delay + LATE


def test_steps_a_call_went_on_past_are_kept_across_a_retry_and_never_run_again(
    harness: Harness,
) -> None:
    run_id = unique("run")
    harness.send(make_task("chained", run_id, harness.app.endpoint))
    [outcome] = harness.reader.wait_outcomes(run_id)
    # Call 1: a done, b failed. Call 2 (b's retry) had a in its records: b done, then
    # the handler completed. One outcome for the task carries both steps.
    assert [(d.step.id, d.step.data, d.attempts) for d in outcome.done] == [
        ("a", 1, 1),
        ("b", "ok", 2),
    ]
    assert isinstance(outcome.response, CompleteResponse)
    assert (outcome.response.output, outcome.attempts) == ({"a": 1, "b": "ok"}, 1)
    assert (RAN[run_id, "a"], RAN[run_id, "b"]) == (1, 2)
    assert [attempt for _, attempt in CALLS[run_id]] == [0, 1]
    [retrying] = harness.history(run_id, "step.retrying", 1)
    assert (retrying.step_id, retrying.attempt) == ("b", 1)


def test_a_call_that_outlives_the_timeout_is_retried_then_fails_as_app_timeout(
    harness: Harness,
) -> None:
    run_id = unique("run")
    began = time.monotonic()
    harness.send(make_task("sleeper", run_id, harness.app.endpoint, data={"sleep": 1.6}))
    outcome = harness.reader.wait_outcomes(run_id)[0]
    elapsed = time.monotonic() - began
    assert outcome.attempts == 2
    assert isinstance(outcome.response, FailedResponse)
    error = outcome.response.error
    assert (error.code, error.name) == ("app_timeout", "AppTimeoutError")
    [gap] = gaps([t for t, _ in CALLS[run_id]])
    [retrying] = harness.history(run_id, "step.retrying", 1)
    delay = float(retrying.data["delay"])  # type: ignore[index, call-overload]
    assert CALL_TIMEOUT + delay - 0.01 <= gap <= CALL_TIMEOUT + delay + LATE
    assert elapsed < 2 * CALL_TIMEOUT + delay + 1.0


def test_a_500_page_without_an_answer_is_a_transport_failure(harness: Harness) -> None:
    run_id = unique("run")
    HITS["proxy-500"].clear()
    harness.send(make_task("noop", run_id, f"{harness.app.url}/proxy-500", retries=2))
    outcome = harness.reader.wait_outcomes(run_id)[0]
    assert outcome.attempts == 3
    assert isinstance(outcome.response, FailedResponse)
    error = outcome.response.error
    assert (error.code, error.retryable) == ("app_bad_response", True)
    assert "500" in error.message
    assert "upstream exploded" in error.message
    assert len(HITS["proxy-500"]) == 3
    assert_schedule(harness, run_id, HITS["proxy-500"], retries=2)


def test_a_reset_connection_is_retried_then_fails_as_app_unreachable(harness: Harness) -> None:
    run_id = unique("run")
    with ResetServer() as server:
        harness.send(make_task("noop", run_id, server.url, retries=2))
        outcome = harness.reader.wait_outcomes(run_id)[0]
        accepted = list(server.accepted)
    assert outcome.attempts == 3
    assert isinstance(outcome.response, FailedResponse)
    assert outcome.response.error.code == "app_unreachable"
    assert len(accepted) == 3
    assert_schedule(harness, run_id, accepted, retries=2)


@pytest.mark.parametrize("route", ["unsigned", "tampered"])
def test_an_answer_that_does_not_verify_is_a_transport_failure(
    harness: Harness, route: str
) -> None:
    run_id = unique("run")
    HITS[route].clear()
    harness.send(make_task("noop", run_id, f"{harness.app.url}/{route}", retries=1))
    outcome = harness.reader.wait_outcomes(run_id)[0]
    assert outcome.attempts == 2
    assert isinstance(outcome.response, FailedResponse)
    error = outcome.response.error
    assert error.code == "app_signature_invalid"
    assert ("missing" if route == "unsigned" else "does not match") in error.message
    assert len(HITS[route]) == 2


def test_a_poisoned_run_does_not_delay_the_other_runs_of_its_partition(
    harness: Harness,
) -> None:
    topic = harness.topics.task(APP_ID, "sleeper")
    group = group_id(harness.settings)
    first = end_offset(harness.settings, topic, 0)  # the poisoned record's offset
    poisoned = unique("poison")
    others = [unique("quick") for _ in range(20)]
    began = time.monotonic()
    # The poisoned run hangs past the timeout on both attempts (about 2.2 s);
    # the 20 runs behind it in the same partition each take a few milliseconds.
    harness.send(
        make_task("sleeper", poisoned, harness.app.endpoint, data={"sleep": 3}), partition=0
    )
    harness.send(
        *[make_task("sleeper", run, harness.app.endpoint, data={"sleep": 0}) for run in others],
        partition=0,
    )
    for run in others:
        [outcome] = harness.reader.wait_outcomes(run)
        assert isinstance(outcome.response, CompleteResponse)
    quick_done = time.monotonic() - began
    # While the poisoned task is in flight, its offset holds the partition's commit point.
    time.sleep(0.3)
    held = committed_offsets(harness.settings, group, topic).get(0)
    [poison_outcome] = harness.reader.wait_outcomes(poisoned, timeout=15)
    assert isinstance(poison_outcome.response, FailedResponse)
    assert poison_outcome.response.error.code == "app_timeout"
    last_quick = max(harness.reader.arrivals[run][0] for run in others)
    assert last_quick < harness.reader.arrivals[poisoned][0] - 1.0
    assert quick_done < CALL_TIMEOUT, quick_done
    assert held == first  # everything before it, nothing past it, was committed
    deadline = time.monotonic() + 5
    while committed_offsets(harness.settings, group, topic).get(0) != first + 21:
        assert time.monotonic() < deadline, "the partition's offset was not committed in full"
        time.sleep(0.1)


def test_calls_in_flight_are_bounded_by_the_concurrency_limit(harness: Harness) -> None:
    limit = harness.settings.worker_concurrency
    stats = harness.worker.worker.stats
    pauses, resumes = stats.pauses, stats.resumes
    Concurrency.peak = 0
    runs = [unique("busy") for _ in range(4 * limit)]
    began = time.monotonic()
    harness.send(*[make_task("busy", run, harness.app.endpoint) for run in runs])
    for run in runs:
        [outcome] = harness.reader.wait_outcomes(run)
        assert isinstance(outcome.response, CompleteResponse)
    elapsed = time.monotonic() - began
    # Calls overlap up to the limit and never beyond; fetching paused when the
    # records waiting for a slot filled the backlog, and resumed as it drained.
    assert limit // 2 <= Concurrency.peak <= limit
    assert stats.held_peak <= limit + BACKLOG
    assert stats.pauses > pauses
    assert stats.resumes > resumes
    # 200 calls of 0.3 s each, 50 at a time: 1.2 s of sleeping at the least.
    assert elapsed < 10, elapsed


def test_the_worker_adds_little_to_each_call(harness: Harness) -> None:
    """Sequential calls of a function that returns at once: where the time goes."""
    stats = harness.worker.worker.stats
    before = (stats.task_time.count, stats.task_time.total, stats.call_time.total)
    latencies = []
    for _ in range(40):
        run = unique("seq")
        began = time.monotonic()
        harness.send(make_task("noop", run, harness.app.endpoint))
        harness.reader.wait_outcomes(run)
        latencies.append(harness.reader.arrivals[run][0] - began)
    count = stats.task_time.count - before[0]
    task_ms = (stats.task_time.total - before[1]) / count * 1000
    call_ms = (stats.call_time.total - before[2]) / count * 1000
    latencies.sort()
    median_ms = latencies[len(latencies) // 2] * 1000
    print(
        f"\nper task, sequential, loopback: end to end (produce task .. read outcome) "
        f"{median_ms:.1f} ms median; in the worker {task_ms:.2f} ms, of which the HTTP call "
        f"{call_ms:.2f} ms and the worker's own work (parse, sign, verify, produce and await "
        f"the outcome's ack) {task_ms - call_ms:.2f} ms"
    )
    assert count == 40
    assert median_ms < 100


def test_unreadable_task_records_are_skipped_and_a_run_they_name_fails(harness: Harness) -> None:
    topic = harness.topics.task(APP_ID, "noop")
    group = group_id(harness.settings)
    first = end_offset(harness.settings, topic, 1)
    named = unique("broken")
    after = unique("after")
    stats_before = harness.worker.worker.stats.tasks_invalid
    harness.producer.produce(topic, value=b"\x00 not json", partition=1)
    harness.producer.produce(
        topic, value=json.dumps({"run_id": named, "seq": 4, "url": 7}).encode(), partition=1
    )
    harness.send(make_task("noop", after, harness.app.endpoint), partition=1)
    [broken] = harness.reader.wait_outcomes(named)
    [fine] = harness.reader.wait_outcomes(after)
    assert isinstance(fine.response, CompleteResponse)
    assert (broken.seq, broken.attempts) == (4, 1)
    assert isinstance(broken.response, FailedResponse)
    assert (broken.response.error.code, broken.response.error.retryable) == ("task_invalid", False)
    invalid = harness.worker.worker.stats.tasks_invalid
    assert invalid == stats_before + 2
    deadline = time.monotonic() + 5
    while committed_offsets(harness.settings, group, topic).get(1) != first + 3:
        assert time.monotonic() < deadline, "the unreadable records held the partition back"
        time.sleep(0.05)


def test_a_new_functions_topic_is_picked_up_within_seconds(harness: Harness) -> None:
    """A function registered while the worker runs: its topic appears, its tasks get served."""
    topic = harness.topics.task("wt-late", "noop")
    create_platform_topics(harness.settings, [topic])
    harness.extra_topics.append(topic)
    run_id = unique("late")
    task = make_task("noop", run_id, harness.app.endpoint)
    began = time.monotonic()
    harness.send(task.model_copy(update={"app_id": "wt-late"}))  # the app serves 'noop' anyway
    [outcome] = harness.reader.wait_outcomes(run_id, timeout=15)
    waited = time.monotonic() - began
    print(f"\nfirst task of a new topic answered after {waited:.2f}s")
    assert isinstance(outcome.response, CompleteResponse)
    assert waited < 8
    # The new partitions were added without taking the others away (cooperative rebalancing).
    assert harness.worker.worker.stats.partitions_revoked == 0
