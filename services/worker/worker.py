"""The worker: takes tasks from Kafka, calls the app, reports each task's outcome.

Three threads of control:

- the consumer thread (:mod:`services.worker.consumer`) polls the task
  topics, pauses them at the concurrency limit and commits offsets;
- the event loop runs one asyncio task per Kafka record: the call and its
  retries (:mod:`services.worker.attempts`), then the acknowledged write of
  its outcome (:mod:`services.worker.reporter`), then the "done" note that
  lets the consumer commit its offset; tasks of one partition run side by
  side, so one slow or failing run never holds up the others;
- the producer thread serves Kafka's delivery reports.

:meth:`Worker.stop` (a signal, or a test) stops fetching, waits up to
``worker_shutdown_timeout`` for the calls in flight, commits what is done
and closes. Anything cut short is not committed and comes back to the next
worker; a ``kill -9`` loses nothing for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from services.common.provision import ensure_topics, platform_topics
from services.common.records import RECORD_VERSION, Task, TaskOutcome, now_ms
from services.common.topics import Topics
from services.worker.answers import Answers
from services.worker.attempts import Execution, RetryPolicy, TaskRunner
from services.worker.calls import AppCaller, error_info
from services.worker.config import consumer_config, producer_config
from services.worker.consumer import Delivery, TaskConsumer
from services.worker.fence import HOLD_SECONDS, Fence
from services.worker.http_pool import HttpPools
from services.worker.offsets import Partition
from services.worker.reporter import Reporter
from services.worker.stats import WorkerStats
from services.worker.url_policy import UrlPolicy
from weir.errors import (
    BrokerUnavailableError,
    ConfigError,
    ErrorCode,
    TaskInvalidError,
    WeirError,
)
from weir.functions.protocol import ErrorInfo, FailedResponse
from weir.settings import Settings
from weir.signing import Signer, signer_from_settings

log = logging.getLogger("weir.worker")
T = TypeVar("T")
# How often held backlogs are looked at again once the first look has passed.
HOLD_RECHECK_SECONDS = 0.25

STATS_EVERY = 60.0
REPORT_BACKOFF_MAX = 30.0
CONSUMER_CHECK_SECONDS = 0.5


def signer_for(settings: Settings) -> Signer | None:
    """The worker's signer; outside dev mode a signing key is required."""
    signer = signer_from_settings(settings)
    if signer is None and not settings.dev:
        raise ConfigError(
            "signing_key is not set: the worker signs every call to the app; set "
            "WEIR_SIGNING_KEY (32+ characters), or WEIR_DEV=1 for local development only"
        )
    return signer


class Worker:
    """One worker process's machinery; :meth:`run` until :meth:`stop`.

    ``consumer_overrides`` / ``producer_overrides`` are librdkafka settings
    applied last (tuning and tests); ``backlog`` is how many task records may
    wait for a free call slot (see :mod:`services.worker.consumer`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        consumer_overrides: Mapping[str, Any] | None = None,
        producer_overrides: Mapping[str, Any] | None = None,
        backlog: int | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings)
        self.stats = WorkerStats()
        self.signer = signer_for(settings)
        if settings.dev:
            log.warning("Weir dev mode: the worker does not verify the app's answers")
        self.policy = UrlPolicy.from_settings(settings)
        self.reporter = Reporter(
            producer_config(settings, **dict(producer_overrides or {})), self.topics, self.stats
        )
        self.consumer = TaskConsumer(
            consumer_config(settings, **dict(consumer_overrides or {})),
            self.topics.task_pattern,
            concurrency=settings.worker_concurrency,
            deliver=self._deliver,
            stats=self.stats,
            backlog=backlog,
            assigned=self._assigned,
        )
        self.fence = Fence(self.consumer.done, self.stats)
        self.answers = Answers()
        self.running = threading.Event()  # set once consuming (tests wait on it)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = threading.Event()
        self._abandon_requested = threading.Event()
        self._wake: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # one per record held
        self._started: set[asyncio.Task[None]] = set()  # those past the slot: calling the app
        self._runner: TaskRunner | None = None
        self._slots: asyncio.Semaphore | None = None  # one per call in flight

    # -- lifecycle ----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to shut down gracefully; safe from any thread or a signal handler."""
        self._stop_requested.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wake.set)

    def abandon(self) -> None:
        """Stop now: cancel the calls in flight instead of waiting (a second signal)."""
        self._abandon_requested.set()
        self.stop()

    async def run(self) -> None:
        """Consume and call until :meth:`stop`; raises if the consumer fails."""
        settings = self.settings
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.worker_concurrency)
        http = HttpPools(settings.worker_concurrency, timeout=settings.worker_call_timeout)
        try:
            caller = AppCaller(
                http,
                self.signer,
                verify=not settings.dev,
                timeout=settings.worker_call_timeout,
            )
            retry = RetryPolicy(base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
            self._runner = TaskRunner(
                caller, self.policy, self.reporter, retry, hold=settings.retry_hold_seconds
            )
            # The topics written to must exist with the platform's partition count
            # before the first write: a broker that auto-creates topics would give
            # them its default count and break co-partitioning with the router.
            await asyncio.to_thread(
                ensure_topics, settings.bootstrap_servers, platform_topics(self.topics)
            )
            self.reporter.start(self._loop)
            self.consumer.start()
            self.running.set()
            log.info(
                "worker ready: consuming %s in group %s, %d calls at most in flight",
                self.topics.task_pattern,
                consumer_config(settings)["group.id"],
                settings.worker_concurrency,
            )
            try:
                await self._wait_for_stop()
            finally:
                await self._shut_down()
        finally:
            await http.aclose()

    async def _wait_for_stop(self) -> None:
        assert self._wake is not None
        last_stats = time.monotonic()
        while not self._stop_requested.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CONSUMER_CHECK_SECONDS)
            if not self.consumer.alive:
                log.error("the task consumer stopped; shutting the worker down")
                return
            if time.monotonic() - last_stats >= STATS_EVERY:
                last_stats = time.monotonic()
                log.info("worker stats: %s", json.dumps(self.stats.snapshot()))

    async def _shut_down(self) -> None:
        self.consumer.stop_fetching()
        # Records still waiting for a slot are not started: left uncommitted, they
        # go to the next worker; only the calls under way are waited for.
        waiting = self._tasks - self._started
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        unfinished = await self._drain(self.settings.worker_shutdown_timeout)
        if unfinished:
            for task in unfinished:
                task.cancel()
            log.warning("abandoned %d calls; their tasks will be delivered again", len(unfinished))
            await asyncio.gather(*unfinished, return_exceptions=True)
        try:
            await asyncio.to_thread(self.consumer.close)
        finally:
            await asyncio.to_thread(self.reporter.close)
            log.info("worker stopped: %s", json.dumps(self.stats.snapshot()))

    async def _drain(self, grace: float) -> set[asyncio.Task[None]]:
        """Wait for the tasks in flight until done, ``grace`` seconds, or :meth:`abandon`."""
        deadline = time.monotonic() + grace
        if self._tasks:
            log.info("waiting up to %gs for %d calls in flight", grace, len(self._tasks))
        while self._tasks and not self._abandon_requested.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await asyncio.wait(set(self._tasks), timeout=min(left, CONSUMER_CHECK_SECONDS))
        return set(self._tasks)

    # -- tasks ----------------------------------------------------------------------------

    def _deliver(self, batch: list[Delivery]) -> None:
        """Called on the consumer thread: start a handler per record on the event loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._start, batch)

    def _assigned(self, ends: dict[Partition, int]) -> None:
        """Called on the consumer thread, before any record of these partitions."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.fence.assigned, ends)
        self._loop.call_soon_threadsafe(self._loop.call_later, HOLD_SECONDS, self._release_due)

    def _release_due(self) -> None:
        self._launch(self.fence.due())
        # Again until every backlog is out: a paused consumer delivers nothing
        # more, so only this releases a hold that was not due at the first look
        # (uvloop's clock is cached per loop turn and may fire a hair early).
        if self.fence.catching_up and self._loop is not None:
            self._loop.call_later(HOLD_RECHECK_SECONDS, self._release_due)

    def _start(self, batch: list[Delivery]) -> None:
        self._launch(self.fence.admit(batch))

    def _launch(self, admitted: list[tuple[Delivery, Task | None]]) -> None:
        for delivery, parsed in admitted:
            task = asyncio.create_task(self._handle(delivery, parsed))
            self._tasks.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._started.discard(task)

    async def _handle(self, delivery: Delivery, parsed: Task | None) -> None:
        assert self._slots is not None
        async with self._slots:  # records wait here, in arrival order, for a free slot
            if self._stop_requested.is_set():
                return  # not started: left uncommitted for the next worker
            if not self.consumer.owns(delivery):
                self.consumer.done(delivery)  # revoked while waiting: its new owner runs it
                return
            current = asyncio.current_task()
            assert current is not None
            self._started.add(current)
            began = time.perf_counter()
            task = parsed if parsed is not None else self._parse(delivery)
            if task is None:
                salvaged = _outcome_for_invalid(delivery)
                if salvaged is not None:
                    await self._report(salvaged)
                self.consumer.done(delivery)
                return
            if self.fence.recorded(task):
                self.consumer.done(delivery)  # the router has its outcome: skip it
                return
            task_id = (task.run_id, task.seq)
            earlier = self.answers.claim(task_id)
            if earlier is None:
                queued = max(0, now_ms() - task.emitted_at) / 1000
                try:
                    execution = await self._execute(task)
                except BaseException:  # cancelled: the worker is stopping
                    self.answers.abandoned(task_id)
                    raise
        if earlier is not None:
            await self._answer_again(delivery, task, earlier)
            return
        try:
            written = await self._report(execution.outcome)
        except BaseException:
            self.answers.abandoned(task_id)
            raise
        self.answers.written(task_id, written)
        self.consumer.done(delivery)
        self._account(task, execution, queued, time.perf_counter() - began)

    async def _answer_again(
        self, delivery: Delivery, task: Task, earlier: asyncio.Future[bytes | None]
    ) -> None:
        """A copy of a task this worker ran: write that run's outcome again, without
        calling the app (services/worker/answers.py says why). Waited for outside the
        call slot, since the earlier copy may still be running."""
        outcome = await asyncio.shield(earlier)
        if outcome is None:
            return  # the earlier copy was given up (stopping): left to the next worker
        await self._persist(task.run_id, lambda: self.reporter.report_again(task.run_id, outcome))
        log.info("run %s seq %d: answered a copy of a task run here already", task.run_id, task.seq)
        self.stats.tasks_answered_again += 1
        self.consumer.done(delivery)

    async def _execute(self, task: Task) -> Execution:
        assert self._runner is not None
        if task.start_by is not None and now_ms() > task.start_by:
            return _start_timed_out(task)
        try:
            return await self._runner.run(task)
        except Exception as exc:  # a bug of ours: fail this run visibly rather than hang it
            log.exception(
                "run %s seq %d: the worker failed executing the task", task.run_id, task.seq
            )
            error = ErrorInfo(name=type(exc).__name__, message=str(exc), code="internal")
            return _failed_without_call(task, error)

    async def _report(self, outcome: TaskOutcome) -> bytes:
        """Write the outcome, retrying until Kafka takes it; the value as written."""
        return await self._persist(outcome.run_id, lambda: self.reporter.report(outcome))

    async def _persist(self, run_id: str, write: Callable[[], Awaitable[T]]) -> T:
        """``write()`` until Kafka takes it (or the worker is cancelled)."""
        pause = 0.5
        while True:
            try:
                written = await write()
            except BrokerUnavailableError as exc:
                self.stats.outcome_report_failures += 1
                log.warning("run %s: %s; retrying in %.1fs", run_id, exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, REPORT_BACKOFF_MAX)
                continue
            self.stats.outcomes_reported += 1
            return written

    def _parse(self, delivery: Delivery) -> Task | None:
        where = f"{delivery.topic}[{delivery.partition}]@{delivery.offset}"
        try:
            task = Task.model_validate_json(delivery.value or b"")
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "record"
            problem: WeirError = TaskInvalidError(f"{where} is not a task: {field}: {first['msg']}")
        else:
            if task.v <= RECORD_VERSION:
                return task
            problem = TaskInvalidError(
                f"{where} is a version {task.v} task; this worker reads up to {RECORD_VERSION}"
            )
        self.stats.tasks_invalid += 1
        log.error("skipped a task record: %s", problem)
        return None

    def _account(self, task: Task, execution: Execution, queued: float, total: float) -> None:
        stats, outcome = self.stats, execution.outcome
        stats.calls += outcome.attempts
        stats.retries += outcome.attempts - 1
        stats.transport_failures += execution.transport_failures
        stats.outcomes[outcome.response.outcome] += 1
        stats.queue_delay.add(queued)
        stats.call_time.add(execution.call_seconds)
        stats.task_time.add(total)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "run %s fn %s/%s seq %d: %s after %d attempt(s); queue %.1f ms, call %.1f ms, "
                "retry waits %.1f ms, total %.1f ms",
                task.run_id,
                task.app_id,
                task.function_id,
                task.seq,
                outcome.response.outcome,
                outcome.attempts,
                queued * 1000,
                execution.call_seconds * 1000,
                execution.waited_seconds * 1000,
                total * 1000,
            )


def _outcome_for_invalid(delivery: Delivery) -> TaskOutcome | None:
    """A failed outcome for an unreadable task that still names its run, so the run ends.

    Without one the run would wait forever for an answer to a task no worker
    can read; with one the router fails it with ``task_invalid``.
    """
    try:
        raw = json.loads(delivery.value or b"")
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    run_id, seq = raw.get("run_id"), raw.get("seq")
    if not isinstance(run_id, str) or not run_id or not isinstance(seq, int):
        return None
    problem = TaskInvalidError(
        f"task {delivery.topic}[{delivery.partition}]@{delivery.offset} of run {run_id} is "
        "unreadable by this worker"
    )
    target = raw.get("target_step")
    return TaskOutcome(
        run_id=run_id,
        seq=seq,
        target_step=target if isinstance(target, str) else None,
        attempts=1,
        response=FailedResponse(error=error_info(problem)),
    )


def _start_timed_out(task: Task) -> Execution:
    """The run waited in the queue past its start timeout: it is cancelled, not called."""
    late = (now_ms() - (task.start_by or 0)) / 1000
    error = ErrorInfo(
        name="StartTimeout",
        message=f"the run did not start within its start timeout (late by {late:.3f}s)",
        code=ErrorCode.FUNCTION_START_TIMEOUT,
        retryable=False,
    )
    return _failed_without_call(task, error)


def _failed_without_call(task: Task, error: ErrorInfo) -> Execution:
    outcome = TaskOutcome(
        run_id=task.run_id,
        seq=task.seq,
        target_step=task.target_step,
        attempts=1,
        response=FailedResponse(error=error),
    )
    return Execution(outcome, 0.0, 0.0, 0)
