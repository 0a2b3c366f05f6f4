"""The two ways events reach Kafka, both acks=all and idempotent.

* :class:`SingleWriter` - one event per call, on an idempotent producer. The
  call returns when Kafka acknowledged it. A background thread serves the
  producer's delivery reports and wakes the waiting coroutines in batches
  (one hop into each event loop per poll, not one per event).
* :class:`BatchWriter` - several events per call, written atomically in one
  Kafka transaction on a transactional producer. A dedicated thread runs the
  transactions; calls queued while one commits are committed together in the
  next (group commit), which keeps each call atomic and cuts the number of
  commits under load. Consumers must read with ``isolation.level=read_committed``
  to never see an aborted batch.

Both are usable from any event loop and from several at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from weir.errors import SendFailedError, WeirError
from weir.transports.kafka_errors import kafka_error

GROUP_MAX_EVENTS = 10_000  # most events one group-committed transaction carries
_POLL_SECONDS = 0.05


class Record(Protocol):
    @property
    def key(self) -> bytes: ...

    @property
    def value(self) -> bytes: ...


Outcome = tuple["asyncio.Future[None]", WeirError | None]


def _settle(outcomes: list[Outcome]) -> None:
    """Runs in the waiting loop: resolve each future with its outcome."""
    for future, error in outcomes:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def _deliver(outcomes: list[Outcome]) -> None:
    """From a Kafka thread: hand outcomes to their loops, one call per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_loop[outcome[0].get_loop()].append(outcome)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, items)


class SingleWriter:
    def __init__(self, config: Mapping[str, Any], topic: str) -> None:
        self.topic = topic
        self._producer = Producer({**config, "enable.idempotence": True, "acks": "all"})
        self._reports: list[Outcome] = []  # appended to by delivery callbacks (poll thread)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="weir-kafka-acks", daemon=True)
        self._thread.start()

    async def write(self, record: Record) -> None:
        """Return once Kafka acknowledged ``record``."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_delivery(error: KafkaError | None, _message: object) -> None:
            # Runs inside poll(), on the poll thread, which also swaps the list.
            self._reports.append((future, None if error is None else kafka_error(error, "send")))

        while True:
            try:
                self._producer.produce(
                    self.topic, value=record.value, key=record.key, on_delivery=on_delivery
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                await asyncio.sleep(0.005)
            except KafkaException as exc:
                raise kafka_error(exc.args[0], "send") from None
        await future

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(_POLL_SECONDS)
            if self._reports:
                reports, self._reports = self._reports, []
                _deliver(reports)

    def close(self, timeout: float) -> None:
        self._stop.set()
        self._thread.join()
        self._producer.flush(timeout)
        if self._reports:
            _deliver(self._reports)


@dataclass
class _Job:
    records: Sequence[Record]
    future: asyncio.Future[None]


class BatchWriter:
    def __init__(
        self, config: Mapping[str, Any], topic: str, transactional_id: str, timeout: float
    ) -> None:
        self.topic = topic
        self.timeout = timeout
        self._config = {
            **config,
            "enable.idempotence": True,
            "acks": "all",
            "transactional.id": transactional_id,
        }
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def write(self, records: Sequence[Record]) -> None:
        """Return once all ``records`` are committed in one transaction (or raise: none are)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._jobs.put(_Job(records, future))
        self._ensure_thread()
        await future

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="weir-kafka-transactions", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        producer: Producer | None = None
        stopping = False
        while not stopping:
            job = self._jobs.get()
            if job is None:
                break
            group, count = [job], len(job.records)
            while count < GROUP_MAX_EVENTS:  # everything queued meanwhile joins this commit
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                group.append(more)
                count += len(more.records)
            try:
                if producer is None:
                    producer = Producer(self._config)
                    producer.init_transactions(self.timeout)
                self._commit(producer, group)
                error: WeirError | None = None
            except Exception as exc:  # whatever it was, no caller may wait forever
                if isinstance(exc, KafkaException):
                    error = kafka_error(exc.args[0], "send (transaction)")
                else:
                    error = SendFailedError(f"send (transaction): {exc!r}")
                self._abort(producer)
                # A failed transaction can leave the producer's sequence numbers out of step
                # with the broker's; a fresh producer (same id, fencing this one) starts clean.
                producer = None
            _deliver([(j.future, error) for j in group])
        if producer is not None:
            producer.flush(self.timeout)

    def _commit(self, producer: Producer, group: list[_Job]) -> None:
        producer.begin_transaction()
        for job in group:
            for record in job.records:
                while True:
                    try:
                        producer.produce(self.topic, value=record.value, key=record.key)
                        break
                    except BufferError:
                        producer.poll(0.01)
        producer.commit_transaction(self.timeout)  # flushes: returns after every ack

    def _abort(self, producer: Producer | None) -> None:
        if producer is not None:
            with contextlib.suppress(KafkaException):
                producer.abort_transaction(self.timeout)
