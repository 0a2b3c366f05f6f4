"""The registry's Kafka log: one compacted, single-partition topic, read by one thread.

A background thread reads the topic from its first record for as long as the
registry runs and applies each record to :class:`RegistryState`. Writing is
``produce`` with ``acks=all`` on an idempotent producer, then waiting until
this process's own reader has applied the record: a write is only confirmed
once it is both durable in Kafka and visible in this process's state. Reading
"to the end" (:meth:`KafkaLog.sync`) asks the broker for the partition's end
offset and waits for the reader to pass it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

# The package's stubs list these without re-exporting them; they are its public API.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    NewTopic,
)

from services.registry import errors
from services.registry.records import (
    Key,
    NoopKey,
    Value,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from services.registry.state import RegistryState
from weir.errors import BrokerUnavailableError, ConfigError

log = logging.getLogger(__name__)

# How the registry creates its topic when it is missing. LogAppendTime makes
# record timestamps the broker's, so claim lapses do not depend on clients' clocks.
TOPIC_CONFIG = {"cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime"}


class KafkaLog:
    def __init__(
        self, bootstrap: str, topic: str, state: RegistryState, *, timeout: float = 10.0
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.state = state
        self.timeout = timeout
        self._applied = threading.Condition(state.lock)
        self._next_offset = 0  # offset after the last record applied
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        common = {"bootstrap.servers": bootstrap, "client.id": "weir-registry"}
        self._producer = Producer(
            {**common, "acks": "all", "enable.idempotence": True, "linger.ms": 0}
        )
        consumer_conf = {
            **common,
            "group.id": "weir-registry",  # never joined: partitions are assigned by hand
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
        self._consumer = Consumer(consumer_conf)
        self._watermarks = Consumer(consumer_conf)

    # -- life cycle -----------------------------------------------------------------

    def start(self, startup_timeout: float = 60.0) -> None:
        """Create the topic if missing, start the reader, and read to the end."""
        ensure_topic(self.bootstrap, self.topic, timeout=startup_timeout)
        # Offset 0 rather than OFFSET_BEGINNING: the client then needs no offset lookup
        # (which it retries only every 500 ms while a new topic gets its leader);
        # auto.offset.reset=earliest covers a log whose start has moved past 0.
        self._consumer.assign([TopicPartition(self.topic, 0, 0)])
        self._reader = threading.Thread(target=self._read, name="registry-reader", daemon=True)
        self._reader.start()
        # Reading back a write of our own proves the reader has caught up with the
        # whole log, and warms up the producer so the first registration is not slow.
        self.write([(NoopKey(), None)], timeout=startup_timeout)

    def close(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._producer.flush(5)
        self._consumer.close()
        self._watermarks.close()

    # -- reading ----------------------------------------------------------------------

    def _read(self) -> None:
        while not self._stop.is_set():
            # poll, not consume(n): a batch call waits for n records or its timeout,
            # which would add that wait to every acknowledged write.
            try:
                msg = self._consumer.poll(0.2)
            except KafkaException as exc:
                log.warning("registry reader: %s", exc)
                time.sleep(0.2)
                continue
            if msg is not None:
                self._apply(msg)

    def _apply(self, msg: Message) -> None:
        error = msg.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("registry reader: %s", error)
            return
        offset = msg.offset() or 0  # only None on messages that were never in a log
        try:
            key = decode_key(msg.key())
            value = decode_value(key, msg.value()) if key is not None else None
        except (ValueError, KeyError, TypeError) as exc:
            # Not a record this registry understands; skipping it is what the
            # other registries that share this layout do too.
            log.warning("skipped an unreadable record at offset %s: %s", offset, exc)
            key = None
            value = None
        with self._applied:
            if key is not None:
                self.state.apply(key, value, msg.timestamp()[1])
            self._next_offset = offset + 1
            self._applied.notify_all()

    def wait_applied(self, offset: int, timeout: float | None = None) -> None:
        """Block until the reader has applied the record at ``offset``."""
        with self._applied:
            if not self._applied.wait_for(
                lambda: self._next_offset > offset, timeout=timeout or self.timeout
            ):
                raise errors.store_timeout(
                    f"Kafka acknowledged the write at offset {offset} of {self.topic} "
                    "but this registry did not read it back in time"
                )

    def sync(self, timeout: float | None = None) -> None:
        """Block until everything written to the topic so far has been applied here."""
        deadline = time.monotonic() + (timeout or self.timeout)
        partition = TopicPartition(self.topic, 0)
        while True:
            try:
                _low, high = self._watermarks.get_watermark_offsets(
                    partition, timeout=max(0.1, deadline - time.monotonic()), cached=False
                )
                break
            except KafkaException as exc:
                if time.monotonic() >= deadline:
                    raise errors.store_timeout(
                        f"Kafka did not answer for {self.topic}: {exc}"
                    ) from exc
                time.sleep(0.1)
        if high > 0:
            self.wait_applied(high - 1, timeout=max(0.1, deadline - time.monotonic()))

    # -- writing ----------------------------------------------------------------------

    def write(
        self, records: Sequence[tuple[Key, Value | None]], *, timeout: float | None = None
    ) -> None:
        """Write ``records`` in order; return once Kafka has them all and they are applied here."""
        timeout = timeout or self.timeout
        offsets: list[int] = []
        failures: list[str] = []

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                failures.append(str(err))
            else:
                offsets.append(msg.offset() or 0)

        try:
            for key, value in records:
                self._producer.produce(
                    self.topic,
                    key=encode_key(key),
                    value=encode_value(value),
                    partition=0,
                    on_delivery=delivered,
                )
        except (KafkaException, BufferError) as exc:  # too large, queue full, ...
            self._producer.flush(timeout)  # let records already queued land before failing
            raise errors.store_error(f"Kafka refused the write: {exc}") from exc
        remaining = self._producer.flush(timeout)
        if failures:
            raise errors.store_error(f"Kafka refused the write: {'; '.join(failures)}")
        if remaining or len(offsets) != len(records):
            raise errors.store_timeout(f"Kafka did not acknowledge the write within {timeout}s")
        self.wait_applied(max(offsets), timeout=timeout)


def ensure_topic(bootstrap: str, topic: str, *, timeout: float) -> None:
    """Create ``topic`` (compacted, one partition) if missing; refuse one that is neither."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        # All topics, not list_topics(topic): asking for one by name can make a broker
        # with auto.create.topics.enable create it, uncompacted.
        meta = admin.list_topics(timeout=timeout).topics.get(topic)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"Kafka at {bootstrap} did not answer: {exc}") from exc
    if meta is None or meta.error is not None:
        future = admin.create_topics(
            [NewTopic(topic, num_partitions=1, replication_factor=-1, config=TOPIC_CONFIG)]
        )[topic]
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerUnavailableError(f"could not create topic {topic}: {exc}") from exc
        return
    if len(meta.partitions) != 1:
        raise ConfigError(
            f"the registry topic {topic} has {len(meta.partitions)} partitions; it needs exactly "
            "one, so that every registry reads the records in the same order"
        )
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=timeout)
    policy = configs["cleanup.policy"].value if "cleanup.policy" in configs else ""
    if "compact" not in str(policy):
        raise ConfigError(
            f"the registry topic {topic} has cleanup.policy={policy}; it must be compacted, "
            "or Kafka would delete schemas with old segments"
        )
