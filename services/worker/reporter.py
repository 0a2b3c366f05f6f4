"""Writes what the worker produces: task outcomes (acknowledged) and run history (not awaited).

Two idempotent ``acks=all`` producers: one for outcomes, one for history.
The history one reports deliveries only when they fail, so a history record
costs no Python callback (they are most of the worker's records).
:meth:`Reporter.report`
returns only once Kafka acknowledged the outcome, because the worker marks a
task's offset done only after that: an outcome is never lost to a crash, at
worst written twice (the router drops outcomes of old task numbers).
History records are handed to the producer and forgotten; a failed one is
counted and logged, never retried on the hot path.

A thread serves the producer's delivery reports (``poll``), settling the
asyncio future of each outcome on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from services.common.records import HistoryRecord, TaskOutcome, dumps
from services.common.topics import Topics
from services.worker.stats import WorkerStats
from weir.errors import BrokerUnavailableError, ErrorCode
from weir.functions.protocol import ErrorInfo, FailedResponse, StepResponse, StepResult

log = logging.getLogger("weir.worker.reporter")

POLL_SECONDS = 0.1
BUFFER_FULL_PAUSE = 0.05


class Reporter:
    def __init__(self, config: dict[str, Any], topics: Topics, stats: WorkerStats) -> None:
        self._config = config
        self._topics = topics
        self._stats = stats
        self._producer: Producer | None = None
        self._history: Producer | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, name="weir-worker-producer", daemon=True
        )
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._producer = Producer(self._config)
        self._history = Producer(
            {
                **self._config,
                "delivery.report.only.error": True,
                "on_delivery": self._history_delivered,
            }
        )
        self._thread.start()

    async def report(self, outcome: TaskOutcome) -> bytes:
        """Write ``outcome`` keyed by its run id; return once Kafka acknowledged it.

        Returns the record's value as written. Raises
        :class:`BrokerUnavailableError` when Kafka did not take it; the caller
        tries again (the offset stays uncommitted meanwhile).
        """
        value = dumps(outcome)
        shrunk = False
        while True:
            err = await self._write(outcome.run_id, value)
            if err is None:
                return value
            if _too_large(err) and not shrunk:
                outcome, shrunk = _too_large_outcome(outcome), True
                value = dumps(outcome)
                continue
            raise BrokerUnavailableError(f"Kafka did not take an outcome: {err}")

    async def report_again(self, run_id: str, value: bytes) -> None:
        """Write an outcome :meth:`report` wrote before, as it was; raises like it."""
        err = await self._write(run_id, value)
        if err is not None:
            raise BrokerUnavailableError(f"Kafka did not take an outcome: {err}")

    async def _write(self, run_id: str, value: bytes) -> KafkaError | None:
        """One outcome record, awaited: Kafka's error, or None once acknowledged."""
        producer, loop = self._running()
        while True:
            done: asyncio.Future[KafkaError | None] = loop.create_future()

            def settle(err: KafkaError | None, _msg: Message, fut: Any = done) -> None:
                loop.call_soon_threadsafe(_resolve, fut, err)

            try:
                producer.produce(
                    self._topics.results,
                    key=run_id.encode("utf-8"),
                    value=value,
                    on_delivery=settle,
                )
            except BufferError:  # the local queue is full: let deliveries drain
                await asyncio.sleep(BUFFER_FULL_PAUSE)
                continue
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                return error
            return await done

    def emit(self, record: HistoryRecord) -> None:
        """Queue one history record for the runs topic; never blocks, never raises."""
        producer = self._history
        if producer is None:
            return
        try:
            producer.produce(
                self._topics.runs, key=record.run_id.encode("utf-8"), value=dumps(record)
            )
        except (BufferError, KafkaException) as exc:
            self._stats.history_dropped += 1
            log.warning("dropped a history record of run %s: %s", record.run_id, exc)

    def close(self, timeout: float = 10.0) -> None:
        """Wait up to ``timeout`` for queued records, then stop serving deliveries."""
        if self._producer is not None:
            self._producer.flush(timeout)
        if self._history is not None:
            left = self._history.flush(timeout)
            if left:
                log.warning("%d history records were not acknowledged at shutdown", left)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _history_delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._stats.history_dropped += 1
            log.warning("a history record was not written: %s", err)

    def _serve(self) -> None:
        assert self._producer is not None
        assert self._history is not None
        while not self._stop.is_set():
            self._history.poll(0)  # failures only
            self._producer.poll(POLL_SECONDS)

    def _running(self) -> tuple[Producer, asyncio.AbstractEventLoop]:
        if self._producer is None or self._loop is None:
            raise RuntimeError("Reporter.start() was not called")
        return self._producer, self._loop


def _resolve(fut: asyncio.Future[KafkaError | None], err: KafkaError | None) -> None:
    if not fut.done():
        fut.set_result(err)


def _too_large(err: object) -> bool:
    return isinstance(err, KafkaError) and err.code() == KafkaError.MSG_SIZE_TOO_LARGE


def _too_large_outcome(outcome: TaskOutcome) -> TaskOutcome:
    """The outcome to record instead of one Kafka refuses as too large.

    Retrying would refuse it again forever, so the answer becomes the error the
    protocol prescribes for an oversized result: the step (or the run) fails
    for good with ``step_output_too_large``.
    """
    error = ErrorInfo(
        name="StepOutputTooLargeError",
        message="the app's answer is too large for the results topic "
        "(raise the topics' max.message.bytes, or return less from the step)",
        code=str(ErrorCode.STEP_OUTPUT_TOO_LARGE),
        retryable=False,
    )
    answer = outcome.response
    log.error("run %s: outcome too large for Kafka, recorded as %s", outcome.run_id, error.code)
    if isinstance(answer, StepResponse):
        step = StepResult(id=answer.step.id, name=answer.step.name, error=error)
        return outcome.model_copy(update={"response": StepResponse(step=step)})
    return outcome.model_copy(update={"response": FailedResponse(error=error)})
