"""Helpers to run and observe a real worker in tests and measurements.

- :class:`WorkerThread` runs a :class:`~services.worker.worker.Worker` on
  its own event loop in a thread of the calling process;
- :class:`WorkerProcess` runs ``python -m services.worker`` as a child
  process configured only by environment variables, as an operator would;
- :class:`RecordReader` follows the results and runs topics and keeps every
  :class:`TaskOutcome` and :class:`HistoryRecord` it reads, by run id;
- :func:`create_platform_topics` makes a deployment's topics with
  ``platform_partitions`` partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from services.common.records import HistoryRecord, TaskOutcome, run_command_adapter
from services.common.topics import Topics
from services.worker.worker import Worker
from weir.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def create_platform_topics(settings: Settings, task_topics: Iterable[str] = ()) -> list[str]:
    """Create the results and runs topics and ``task_topics`` unless they exist.

    Returns their names once every partition has a leader.
    """
    topics = Topics(settings)
    names = [topics.results, topics.runs, *task_topics]
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    wanted = [
        NewTopic(name, num_partitions=settings.platform_partitions, replication_factor=1)
        for name in names
    ]
    for future in admin.create_topics(wanted).values():
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    deadline = time.monotonic() + 30
    for name in names:
        while True:
            meta = admin.list_topics(name, timeout=5).topics.get(name)
            if (
                meta is not None
                and meta.error is None
                and len(meta.partitions)
                == len([p for p in meta.partitions.values() if p.leader >= 0])
                == settings.platform_partitions
            ):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name} has no leaders")
            time.sleep(0.05)
    return names


def delete_topics(settings: Settings, names: Iterable[str]) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    for future in admin.delete_topics(list(names)).values():
        with contextlib.suppress(Exception):  # already gone: nothing to clean
            future.result(timeout=30)


def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset of each partition of ``topic`` (absent: none)."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.platform_partitions)]
        return {
            tp.partition: tp.offset
            for tp in consumer.committed(parts, timeout=10)
            if tp.offset >= 0
        }
    finally:
        consumer.close()


def end_offset(settings: Settings, topic: str, partition: int) -> int:
    """The offset the next record written to ``topic[partition]`` will get."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": "end-offset"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        return int(high)
    finally:
        consumer.close()


class WorkerThread:
    """A worker on its own event loop in a daemon thread; a context manager."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.worker = Worker(settings, **options)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="test-worker", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self.worker.run())
        except BaseException as exc:  # re-raised by stop()
            self.error = exc

    def __enter__(self) -> WorkerThread:
        self._thread.start()
        if not self.worker.running.wait(30):
            raise TimeoutError("the worker did not start")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_assigned(self, topic: str, partitions: int, timeout: float = 30.0) -> None:
        """Wait until the worker owns every partition of ``topic``."""
        deadline = time.monotonic() + timeout
        while True:
            owned = {p for t, p in self.worker.consumer.assignment if t == topic}
            if len(owned) == partitions:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker owns {sorted(owned)} of {topic} after {timeout}s")
            time.sleep(0.05)

    def stop(self, timeout: float = 60.0) -> None:
        self.worker.stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the worker did not stop")
        if self.error is not None:
            raise self.error


class WorkerProcess:
    """``python -m services.worker`` with ``env`` (WEIR_* variables), logging to ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.worker"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the worker exited ({self.process.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not logged within {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait for the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class RecordReader:
    """Follows the results and runs topics from the start in a thread; a context manager."""

    def __init__(self, settings: Settings) -> None:
        topics = Topics(settings)
        self.outcomes: dict[str, list[TaskOutcome]] = defaultdict(list)
        self.history: dict[str, list[HistoryRecord]] = defaultdict(list)
        self.arrivals: dict[str, list[float]] = defaultdict(list)  # monotonic time per outcome
        self._topics = (topics.results, topics.runs)
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap_servers,
                "group.id": f"reader-{os.getpid()}-{time.monotonic_ns()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="test-reader", daemon=True)

    def __enter__(self) -> RecordReader:
        self._consumer.subscribe(list(self._topics))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()

    def _follow(self) -> None:
        results, _ = self._topics
        while not self._stop.is_set():
            first = self._consumer.poll(0.1)
            if first is None:
                continue
            for message in [first, *self._consumer.consume(100, 0)]:
                if message.error() is not None:
                    continue
                value = message.value() or b""
                with self._lock:
                    if message.topic() == results:
                        record = run_command_adapter.validate_json(value)
                        if isinstance(record, TaskOutcome):
                            self.outcomes[record.run_id].append(record)
                            self.arrivals[record.run_id].append(time.monotonic())
                    else:
                        entry = HistoryRecord.model_validate_json(value)
                        self.history[entry.run_id].append(entry)

    def wait_outcomes(
        self, run_id: str, count: int = 1, timeout: float = 30.0
    ) -> list[TaskOutcome]:
        """The run's outcomes once ``count`` arrived (raises on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                got = list(self.outcomes.get(run_id, []))
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(got)} of {count} outcomes of run {run_id} in {timeout}s")
            time.sleep(0.02)

    def history_of(self, run_id: str) -> list[HistoryRecord]:
        with self._lock:
            return list(self.history.get(run_id, []))
