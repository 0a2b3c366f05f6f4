"""The worker's Kafka consumer: one thread that owns it, feeding tasks to the event loop.

The thread polls without pause, whatever the calls in flight are doing, so
a call longer than ``max.poll.interval.ms`` never costs the worker its
partitions. Every Kafka operation on the consumer (poll, pause, resume,
commit, close) happens on this thread; the event loop only hands back
"done" notes through a queue.

Flow control: every record fetched goes to the event loop at once, where at
most ``concurrency`` calls run (the worker's semaphore) and the rest wait
their turn in arrival order. This thread bounds how many records are held,
delivered and not yet done: ``concurrency`` plus a backlog of
``max(concurrency, BACKLOG_MIN)`` records (and :data:`HELD_MAX_BYTES`). At
that bound every assigned partition is paused, so Kafka stops sending while
the thread keeps polling (membership stays alive); they resume once half the
backlog has drained.

Why a backlog rather than pausing right at the concurrency limit: resuming
is slow. librdkafka serves a resumed partition only after the fetch that was
in flight when it paused returns (measured: about 0.45 s with the default
``fetch.wait.max.ms``, up to a second now and then) and pausing discards the
records it had prefetched. Pausing at the limit would leave every call slot
idle for that long on each refill; with the backlog the slots are fed from
memory while Kafka catches up.

Offsets: see :mod:`services.worker.offsets`. Commits are asynchronous in
steady state (a lost one only re-delivers finished tasks) and synchronous on
revoke and shutdown.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from services.worker.offsets import OffsetBook, Partition
from services.worker.stats import WorkerStats

log = logging.getLogger("weir.worker.consumer")

POLL_SECONDS = 0.1
PAUSED_POLL_SECONDS = 0.01
MAX_BATCH = 500
# The backlog must outlast a resume: at a few hundred tasks a second, half of
# it (where fetching resumes) is still about a second of work.
BACKLOG_MIN = 1000
HELD_MAX_BYTES = 64 * 1024 * 1024
# Steady-state commits are batched in time: under load every poll round would
# otherwise send one, for no gain (a lost commit only re-delivers done tasks).
COMMIT_EVERY_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Delivery:
    """One task record handed to the event loop, and where to report it done."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def where(self) -> Partition:
        return (self.topic, self.partition)

    @property
    def size(self) -> int:
        return len(self.value or b"")


class TaskConsumer:
    """Consumes the task topics matching ``pattern`` on its own thread.

    ``deliver`` is called on the consumer thread with each batch of records
    and must hand them to the event loop without blocking; every delivered
    record must later be passed to :meth:`done` (from any thread). ``backlog``
    is how many records may wait beyond ``concurrency`` (default
    ``max(concurrency, BACKLOG_MIN)``).
    """

    def __init__(
        self,
        config: dict[str, Any],
        pattern: str,
        *,
        concurrency: int,
        deliver: Callable[[list[Delivery]], None],
        stats: WorkerStats,
        backlog: int | None = None,
        assigned: Callable[[dict[Partition, int]], None] | None = None,
    ) -> None:
        self._config = config
        self._pattern = pattern
        spare = max(concurrency, BACKLOG_MIN) if backlog is None else backlog
        self._most_held = concurrency + spare
        self._resume_at = concurrency + spare // 2
        self._deliver = deliver
        self._assigned = assigned  # told each new partition's end offset (see fence.py)
        self._stats = stats
        self._done: queue.SimpleQueue[tuple[Partition, int, int]] = queue.SimpleQueue()
        self._book = OffsetBook()
        self._held = 0  # delivered and not done
        self._held_bytes = 0
        self._paused = False
        self._assignment: frozenset[Partition] = frozenset()
        self._assignment_changed = False
        self._fetching = True
        self._closing = threading.Event()
        self._failure: BaseException | None = None
        self._consumer: Consumer | None = None
        self._thread = threading.Thread(target=self._run, name="weir-worker-consumer", daemon=True)

    # -- the event loop's side ---------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def done(self, delivery: Delivery) -> None:
        """The record is finished with: outcome acknowledged, skipped, or dropped."""
        self._done.put((delivery.where, delivery.offset, delivery.size))

    def stop_fetching(self) -> None:
        """Take no more tasks; keep polling and committing until :meth:`close`."""
        self._fetching = False

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is done, leave the group and stop the thread."""
        self._closing.set()
        self._thread.join(timeout)
        if self._failure is not None:
            raise self._failure

    def owns(self, delivery: Delivery) -> bool:
        """Whether the record's partition is still assigned to this worker."""
        return delivery.where in self._assignment

    @property
    def assignment(self) -> frozenset[Partition]:
        """The partitions assigned now (for logs and tests)."""
        return self._assignment

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the consumer thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            consumer = Consumer({**self._config, "on_commit": self._committed})
            self._consumer = consumer
            consumer.subscribe(
                [self._pattern],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            last_commit = 0.0
            while not self._closing.is_set():
                self._settle()
                if time.monotonic() - last_commit >= COMMIT_EVERY_SECONDS:
                    last_commit = time.monotonic()
                    self._commit(asynchronous=True)
                self._flow()
                room = max(1, min(self._most_held - self._held, MAX_BATCH))
                self._take(self._fetch(consumer, room))
            self._settle()
            self._commit(asynchronous=False)
            consumer.close()
        except BaseException as exc:  # surfaced by close(); the worker then stops
            log.exception("the task consumer failed")
            self._failure = exc

    def _fetch(self, consumer: Consumer, most: int) -> list[Message]:
        """Up to ``most`` records: wait for the first only, then take what is already here.

        (``consume(n, timeout)`` alone would hold the first record back until
        ``n`` arrived or the timeout passed: a tenth of a second per quiet task.)
        """
        # While paused no record can come: poll briefly, so that a drained backlog
        # resumes fetching within milliseconds.
        first = consumer.poll(PAUSED_POLL_SECONDS if self._paused else POLL_SECONDS)
        if first is None:
            return []
        if most == 1:
            return [first]
        return [first, *consumer.consume(most - 1, 0)]

    def _take(self, messages: list[Message]) -> None:
        batch: list[Delivery] = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    log.debug("no task topic yet: %s", error)  # no function registered so far
                elif error.code() != KafkaError._PARTITION_EOF:
                    log.warning("task consumer: %s", error)
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if topic is None or partition is None or offset is None:
                continue
            delivery = Delivery(topic, partition, offset, message.key(), message.value())
            if delivery.where not in self._assignment:
                continue  # revoked while this batch was in the local queue
            self._book.received(delivery.where, offset)
            batch.append(delivery)
        if batch:
            self._held += len(batch)
            self._stats.held_peak = max(self._stats.held_peak, self._held)
            self._held_bytes += sum(delivery.size for delivery in batch)
            self._stats.tasks_received += len(batch)
            self._deliver(batch)

    def _settle(self) -> None:
        """Apply the done notes the event loop left."""
        while True:
            try:
                where, offset, size = self._done.get_nowait()
            except queue.Empty:
                return
            self._held -= 1
            self._held_bytes -= size
            self._book.done(where, offset)

    def _flow(self) -> None:
        """Pause when the held records reach the bound; resume once half the backlog is gone."""
        full = self._held >= self._most_held or self._held_bytes >= HELD_MAX_BYTES
        drained = self._held <= self._resume_at and self._held_bytes < HELD_MAX_BYTES // 2
        if (full or not self._fetching) and (not self._paused or self._assignment_changed):
            self._set_paused(True)
        elif self._paused and self._fetching and drained:
            self._set_paused(False)
        self._assignment_changed = False

    def _set_paused(self, paused: bool) -> None:
        consumer = self._consumer
        if consumer is None or not self._assignment:
            self._paused = paused
            return
        partitions = [TopicPartition(topic, partition) for topic, partition in self._assignment]
        try:
            if paused:
                consumer.pause(partitions)
            else:
                consumer.resume(partitions)
        except KafkaException as exc:  # a partition left in the same poll: next round retries
            log.warning("could not %s task partitions: %s", "pause" if paused else "resume", exc)
            return
        if paused and not self._paused:
            self._stats.pauses += 1
        elif not paused:
            self._stats.resumes += 1
        self._paused = paused

    def _commit(self, *, asynchronous: bool, only: set[Partition] | None = None) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        moved = self._book.advanced(only)
        if not moved:
            return
        offsets = [TopicPartition(topic, partition, point) for (topic, partition), point in moved]
        try:
            if asynchronous:
                consumer.commit(offsets=offsets, asynchronous=True)
            else:
                consumer.commit(offsets=offsets, asynchronous=False)
            self._stats.commits += 1
        except KafkaException as exc:
            # The tasks stay done; at worst they are delivered again after a restart.
            self._stats.commit_failures += 1
            log.warning("committing task offsets failed: %s", exc)

    def _committed(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if err is not None:
            self._stats.commit_failures += 1
            log.warning("an asynchronous commit of task offsets failed: %s", err)

    # -- rebalance callbacks (run inside poll(), on this thread) ---------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        added = {(tp.topic, tp.partition) for tp in partitions}
        if self._assigned is not None and partitions:
            self._assigned(self._backlog_ends(consumer, partitions))
        self._assignment = self._assignment | added
        self._assignment_changed = True
        self._stats.partitions_assigned += len(added)
        log.info("assigned %d task partitions: %s", len(added), _names(added))

    @staticmethod
    def _backlog_ends(consumer: Consumer, partitions: list[TopicPartition]) -> dict[Partition, int]:
        """The end offset of each new partition that has a backlog (records past its
        committed offset); one read to the end already is no backlog to hold."""
        try:
            committed = {
                (tp.topic, tp.partition): tp.offset
                for tp in consumer.committed(partitions, timeout=5)
            }
        except KafkaException as exc:  # then every partition counts as having a backlog
            log.warning("no committed offsets for the new partitions: %s", exc)
            committed = {}
        ends: dict[Partition, int] = {}
        for tp in partitions:
            where = (tp.topic, tp.partition)
            try:
                end = consumer.get_watermark_offsets(tp, timeout=5, cached=False)[1]
            except KafkaException as exc:  # no fence for its backlog; say so
                log.warning("no end offset for %s[%d]: %s", tp.topic, tp.partition, exc)
                continue
            if 0 <= end <= committed.get(where, -1):
                continue
            ends[where] = end
        return ends

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        # Commit what is done while the partitions are still ours, then forget them.
        # Their calls in flight finish and report (the next owner may run them
        # again: at-least-once); their records still waiting are dropped unrun.
        self._settle()
        self._commit(asynchronous=False, only=revoked)
        self._forget(revoked)
        self._stats.partitions_revoked += len(revoked)
        log.info("revoked %d task partitions: %s", len(revoked), _names(revoked))

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._forget(lost)  # no commit: they may belong to another worker already
        self._stats.partitions_lost += len(lost)
        log.warning("lost %d task partitions: %s", len(lost), _names(lost))

    def _forget(self, partitions: set[Partition]) -> None:
        self._assignment = self._assignment - partitions
        self._book.drop(partitions)


def _names(partitions: set[Partition]) -> str:
    return ", ".join(f"{topic}[{partition}]" for topic, partition in sorted(partitions))
