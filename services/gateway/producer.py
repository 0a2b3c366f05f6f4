"""Write encoded events to Kafka and return only once Kafka acknowledged them.

Two kinds of producer, both ``acks=all`` and idempotent:

* one shared idempotent producer for requests that carry a single record: a
  lone record is atomic already, so it needs no transaction and pays only one
  round trip. Its delivery reports are served by a poll thread that settles
  an asyncio future per record.
* a pool of transactional producers for requests that carry several records:
  each request checks one out, writes its records in one transaction and
  commits, so an array is visible to ``read_committed`` consumers whole or
  not at all. A pool, because a producer holds one open transaction at a
  time: with a single one, concurrent arrays would queue behind each other's
  commit round trips.

Every write is bounded by one deadline (``gateway_delivery_timeout``); when it
passes, or Kafka refuses, the caller gets :class:`BrokerUnavailableError`
(503) and must assume nothing was written. A 2xx is therefore only ever sent
for records Kafka acknowledged.

Transactional ids are stable per gateway instance and slot
(``<prefix>-<instance>-<slot>``), so a restarted gateway fences and aborts
the transactions its previous incarnation left open instead of leaving
consumers stalled until the transaction timeout.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from weir.errors import BrokerUnavailableError, PayloadTooLargeError, WeirError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One encoded event, ready for Kafka."""

    value: bytes
    key: bytes | None = None
    headers: list[tuple[str, str | bytes | None]] | None = None


class EventWriter(Protocol):
    """Where the gateway writes records; atomic for a batch, acknowledged on return."""

    async def start(self) -> None: ...

    async def write(self, records: Sequence[KafkaRecord]) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class WriterConfig:
    bootstrap: str
    topic: str
    #: Seconds a whole write may take, from call to acknowledgement.
    delivery_timeout: float = 10.0
    #: Transactional producers in the pool (concurrent multi-record writes).
    producers: int = 4
    linger_ms: float = 1.0
    transactional_id_prefix: str = "weir-gateway"
    #: Extra librdkafka settings, applied last (tests and tuning).
    extra: dict[str, Any] = field(default_factory=dict)

    def base(self) -> dict[str, Any]:
        timeout_ms = max(1, int(self.delivery_timeout * 1000))
        return {
            "bootstrap.servers": self.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": self.linger_ms,
            "message.timeout.ms": timeout_ms,
            # Java clients (Faust, aiokafka, Kafka Streams) hash keys with
            # murmur2; so must we, or a keyed record lands elsewhere than theirs.
            "partitioner": "murmur2_random",
            # librdkafka's own log lines go to Python logging, not raw stderr.
            "logger": log,
            **self.extra,
        }


def _unavailable(what: str, error: object) -> BrokerUnavailableError:
    return BrokerUnavailableError(f"{what}: {error}; nothing was written")


def _refused(what: str, error: KafkaError) -> WeirError:
    """The error to answer for a Kafka error: 413 for a record too large, else 503."""
    if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
        # Retrying cannot help: the topic's max.message.bytes is below the record.
        return PayloadTooLargeError(
            f"{what}: an event is larger than the topic accepts (max.message.bytes); "
            "nothing was written"
        )
    return _unavailable(what, error.str())


class KafkaEventWriter:
    def __init__(self, config: WriterConfig) -> None:
        self.config = config
        self._single = Producer(config.base())
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll_forever, name="gateway-poll", daemon=True)
        self._slots = [
            _TransactionalSlot(f"{config.transactional_id_prefix}-{index}", config)
            for index in range(config.producers)
        ]
        self._idle: asyncio.Queue[_TransactionalSlot] | None = None
        self._warming: list[asyncio.Task[None]] = []
        self._threads = ThreadPoolExecutor(
            max_workers=max(1, config.producers), thread_name_prefix="gateway-txn"
        )

    async def start(self) -> None:
        self._idle = asyncio.Queue()
        for slot in self._slots:
            self._idle.put_nowait(slot)
        self._poller.start()
        # Warm the pool in the background: the first array then skips the
        # InitProducerId round trips. Failing here is fine; each write retries.
        self._warming = [asyncio.create_task(self._warm_up()) for _ in self._slots]

    async def _warm_up(self) -> None:
        assert self._idle is not None
        slot = await self._idle.get()  # held, so no request uses it meanwhile
        try:
            await asyncio.get_running_loop().run_in_executor(self._threads, slot.warm_up)
        finally:
            self._idle.put_nowait(slot)

    async def close(self) -> None:
        for task in self._warming:
            task.cancel()
        self._stopping.set()
        if self._poller.is_alive():
            await asyncio.to_thread(self._poller.join, 5)
        await asyncio.to_thread(self._single.flush, self.config.delivery_timeout)
        self._threads.shutdown(wait=True, cancel_futures=True)
        for slot in self._slots:
            slot.discard()

    async def write(self, records: Sequence[KafkaRecord]) -> None:
        if not records:
            return
        if len(records) == 1:
            await self._write_one(records[0])
        else:
            await self._write_all(records)

    # -- one record: idempotent producer, future per record ----------------------

    def _poll_forever(self) -> None:
        # poll() blocks until a delivery report arrives or the timeout passes,
        # so acknowledgements reach the event loop as soon as Kafka sends them.
        while not self._stopping.is_set():
            self._single.poll(0.1)

    async def _write_one(self, record: KafkaRecord) -> None:
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[KafkaError | None] = loop.create_future()

        def settle(error: KafkaError | None) -> None:
            if not acked.done():
                acked.set_result(error)

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            loop.call_soon_threadsafe(settle, error)

        try:
            self._single.produce(
                self.config.topic,
                record.value,
                record.key,
                headers=record.headers,
                on_delivery=on_delivery,
            )
        except BufferError:
            raise _unavailable("the gateway's Kafka queue is full", "retry shortly") from None
        except KafkaException as exc:
            raise _refused("Kafka refused the event", exc.args[0]) from None
        try:
            # message.timeout.ms settles the future by itself; the extra second
            # only guards against a report that never comes.
            error = await asyncio.wait_for(acked, self.config.delivery_timeout + 1.0)
        except TimeoutError:
            raise _unavailable("Kafka did not acknowledge in time", "timed out") from None
        if error is not None:
            if error.fatal():
                self._replace_single()
            raise _refused("Kafka did not acknowledge the event", error)

    def _replace_single(self) -> None:
        # A fatal error (e.g. a broken idempotence sequence) ends a producer for
        # good; later events go to a fresh one. The old one is released off the
        # event loop because destroying it joins librdkafka's threads.
        old, self._single = self._single, Producer(self.config.base())
        log.warning("replaced the gateway's idempotent producer after a fatal error")
        threading.Thread(target=old.flush, args=(1.0,), daemon=True).start()

    # -- several records: one transaction on a pooled producer -------------------

    async def _write_all(self, records: Sequence[KafkaRecord]) -> None:
        assert self._idle is not None, "start() first"
        deadline = time.monotonic() + self.config.delivery_timeout
        try:
            slot = await asyncio.wait_for(self._idle.get(), self.config.delivery_timeout)
        except TimeoutError:
            raise _unavailable("every transactional producer is busy", "timed out") from None
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._threads, slot.transact, records, deadline)
        finally:
            self._idle.put_nowait(slot)


class _TransactionalSlot:
    """One transactional producer, created and initialised lazily, replaced on fatal errors.

    Used by one thread at a time (the pool hands a slot to one request).
    """

    def __init__(self, transactional_id: str, config: WriterConfig) -> None:
        self.transactional_id = transactional_id
        self.config = config
        self._producer: Producer | None = None

    def warm_up(self) -> None:
        try:
            self._ready(time.monotonic() + self.config.delivery_timeout)
        except BrokerUnavailableError as exc:
            log.info("transactional producer %s not ready yet: %s", self.transactional_id, exc)

    def discard(self) -> None:
        self._producer = None  # librdkafka frees it (and its connections) on collection

    def _ready(self, deadline: float) -> Producer:
        if self._producer is not None:
            return self._producer
        conf = self.config.base()
        timeout_ms = conf["message.timeout.ms"]
        conf.update(
            {
                "transactional.id": self.transactional_id,
                # Bounds how long consumers stall behind a transaction a crashed
                # gateway left open (a restart with the same id aborts it sooner).
                "transaction.timeout.ms": max(timeout_ms, 10_000),
            }
        )
        producer = Producer(conf)
        try:
            producer.init_transactions(max(0.001, deadline - time.monotonic()))
        except KafkaException as exc:
            raise _unavailable(
                "Kafka did not start a transactional producer", exc.args[0]
            ) from None
        self._producer = producer
        return producer

    def transact(self, records: Sequence[KafkaRecord], deadline: float) -> None:
        producer = self._ready(deadline)
        topic = self.config.topic
        try:
            producer.begin_transaction()
            for record in records:
                producer.produce(topic, record.value, record.key, headers=record.headers)
            self._commit(producer, deadline)
        except BufferError:
            self._abort(producer, deadline)
            raise _unavailable("Kafka did not take the events", "local queue full") from None
        except KafkaException as exc:
            self._abort(producer, deadline)
            raise _refused("Kafka did not commit the events", exc.args[0]) from None

    def _commit(self, producer: Producer, deadline: float) -> None:
        while True:
            remaining = deadline - time.monotonic()
            try:
                producer.commit_transaction(max(0.001, remaining))
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                # A retriable failure (a timeout) leaves the commit pending:
                # calling commit again continues it, within our deadline.
                if error.retriable() and deadline - time.monotonic() > 0:
                    continue
                raise

    def _abort(self, producer: Producer, deadline: float) -> None:
        try:
            producer.abort_transaction(max(1.0, deadline - time.monotonic()))
        except KafkaException as exc:
            # A producer that cannot abort (fatal error, fenced, broker gone) is
            # replaced; its successor's init_transactions aborts what is left.
            log.warning("abandoning transactional producer %s: %s", self.transactional_id, exc)
            self.discard()
