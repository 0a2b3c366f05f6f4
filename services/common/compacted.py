"""Follow a small compacted topic from its start, in a background thread.

For state every process needs whole (the app registrations, the wait paths):
no consumer group, every partition assigned, each record handed to
``apply(key, value)`` (value None: a tombstone).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

log = logging.getLogger("weir.compacted")

Apply = Callable[[bytes | None, bytes | None], None]


class CompactedFollower:
    """Reads ``topic`` from the start and keeps following it."""

    def __init__(self, bootstrap: str, topic: str, apply: Apply) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.apply = apply
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"follow-{topic}", daemon=True)

    def start(self, wait: float = 30.0) -> None:
        """Start following; return once everything already in the topic is applied."""
        self._thread.start()
        if not self._caught_up.wait(wait):
            log.warning("%s not caught up after %.0fs; going on", self.topic, wait)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"weir-follow-{self.topic}",  # required, never joined: assign()
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        try:
            meta = consumer.list_topics(self.topic, timeout=10).topics[self.topic]
            partitions = [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in meta.partitions]
            consumer.assign(partitions)
            at_end: set[int] = set()
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition() or 0)
                        if len(at_end) == len(partitions):
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
