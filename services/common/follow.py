"""Follow a topic from its start, in a background thread, without a consumer group.

For state every process needs whole: the app registrations and the wait paths
(compacted topics), and the gateway's view of the run history. Every
partition is assigned from its first offset and each record is handed to
``apply(key, value)`` (value None: a tombstone). A topic that does not exist
yet is waited for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

log = logging.getLogger("weir.follow")

Apply = Callable[[bytes | None, bytes | None], None]


class TopicFollower:
    """Reads ``topic`` from the start and keeps following it."""

    def __init__(
        self, bootstrap: str, topic: str, apply: Apply, *, batch_ms: int | None = None
    ) -> None:
        """``batch_ms``: let the broker gather records for up to this long before it
        answers a fetch (fewer, larger fetches; the view lags by as much)."""
        self.bootstrap = bootstrap
        self.topic = topic
        self.apply = apply
        self.batch_ms = batch_ms
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"follow-{topic}", daemon=True)

    def start(self, wait: float = 0.0) -> None:
        """Start following; with ``wait``, return once what the topic held is applied
        (or after ``wait`` seconds)."""
        self._thread.start()
        if wait and not self._caught_up.wait(wait):
            log.warning("%s not caught up after %.0fs; going on", self.topic, wait)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        config: dict[str, str | int | bool] = {
            "bootstrap.servers": self.bootstrap,
            "group.id": f"weir-follow-{self.topic}",  # required, never joined: assign()
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
        if self.batch_ms is not None:
            config |= {"fetch.wait.max.ms": self.batch_ms, "fetch.min.bytes": 1 << 20}
        consumer = Consumer(config)
        try:
            partitions = self._assign(consumer)
            at_end: set[int] = set()
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition() or 0)
                        if len(at_end) == partitions:
                            self._caught_up.set()
                    else:
                        log.warning("%s: %s", self.topic, error)
                    continue
                self.apply(msg.key(), msg.value())
        except Exception:  # a process without this state cannot work: say it loudly
            log.exception("following %s stopped", self.topic)
            time.sleep(1)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> int:
        """Assign every partition from its start, once the topic exists; how many."""
        while not self._stop.is_set():
            meta = consumer.list_topics(self.topic, timeout=5).topics.get(self.topic)
            if meta is not None and meta.error is None and meta.partitions:
                consumer.assign(
                    [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in meta.partitions]
                )
                return len(meta.partitions)
            self._stop.wait(0.5)
        return 0
