"""Run the test Faust app (tests/support/faust_app.py) as real worker processes.

A worker is a separate ``python -m tests.support.faust_app worker`` process in
its own session, with its log captured to a file, so a test can ``kill -9`` it
exactly as an operator's crash would. :class:`WorkerPool` makes sure no worker
outlives its test; when the test fails it prints every worker's log tail and
has the live ones write their thread and task stacks to their log files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]

ENV_APP_ID = "WEIR_FAUST_TEST_APP_ID"
ENV_BOOTSTRAP = "WEIR_FAUST_TEST_BOOTSTRAP"
ENV_INPUT = "WEIR_FAUST_TEST_INPUT"
ENV_OUTPUT = "WEIR_FAUST_TEST_OUTPUT"
ENV_PARTITIONS = "WEIR_FAUST_TEST_PARTITIONS"
ENV_DATADIR = "WEIR_FAUST_TEST_DATADIR"
ENV_WORKER = "WEIR_FAUST_TEST_WORKER"
# Set to any value to run Faust's unpatched recovery (reproduces the loss).
ENV_STOCK_RECOVERY = "WEIR_FAUST_TEST_STOCK_RECOVERY"

TABLE_NAME = "seqs"


@dataclass(frozen=True)
class FaustAppSpec:
    """Names one deployment of the test app: its group, topics and partitions."""

    app_id: str
    bootstrap: str
    input_topic: str
    output_topic: str
    partitions: int

    @property
    def changelog_topic(self) -> str:
        """The name Faust derives for the table's changelog."""
        return f"{self.app_id}-{TABLE_NAME}-changelog"

    @property
    def leader_topic(self) -> str:
        """The single-partition topic Faust declares for its leader election."""
        return f"{self.app_id}-__assignor-__leader"

    def environ(self, worker: str, datadir: Path) -> dict[str, str]:
        return {
            ENV_APP_ID: self.app_id,
            ENV_BOOTSTRAP: self.bootstrap,
            ENV_INPUT: self.input_topic,
            ENV_OUTPUT: self.output_topic,
            ENV_PARTITIONS: str(self.partitions),
            ENV_DATADIR: str(datadir),
            ENV_WORKER: worker,
        }


class FaustWorker:
    """One worker process; ``name`` tags every output record it emits."""

    def __init__(self, spec: FaustAppSpec, name: str, datadir: Path, log_path: Path) -> None:
        self.spec = spec
        self.name = name
        self.datadir = datadir
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError(f"worker {self.name} already started")
        env = {**os.environ, **self.spec.environ(self.name, self.datadir)}
        env["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                # --without-web: the worker command's flag defaults to "with web"
                # and overrides the app's web_enabled=False, so without it every
                # worker binds port 6066 and a second one on the host dies.
                [
                    sys.executable,
                    "-m",
                    "tests.support.faust_app",
                    "worker",
                    "--without-web",
                    "-l",
                    "info",
                ],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C on pytest does not reach it, and a kill
                # by pid hits exactly this worker.
                start_new_session=True,
            )

    def dump_stacks(self) -> None:
        """Ask a live worker to log every thread's and task's stack (mode's SIGUSR1)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGUSR1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed or committed."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGKILL)
        self._proc.wait(timeout=10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class WorkerPool:
    """Starts workers for one test and always reaps them, even on failure."""

    def __init__(self, spec: FaustAppSpec, workdir: Path) -> None:
        self.spec = spec
        self.workdir = workdir
        self.workers: list[FaustWorker] = []

    def start(self, name: str, datadir: Path) -> FaustWorker:
        worker = FaustWorker(self.spec, name, datadir, self.workdir / f"{name}.log")
        self.workers.append(worker)
        worker.start()
        return worker

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            for worker in self.workers:
                worker.kill()
            return
        # The test failed: keep what each worker had logged, have the live ones
        # append their stacks to their log files, then reap them all.
        tails = {worker.name: worker.log_tail() for worker in self.workers}
        for worker in self.workers:
            worker.dump_stacks()
        time.sleep(1.0)  # let the dumps reach the logs
        for worker in self.workers:
            worker.kill()
        for worker in self.workers:
            # Captured by pytest and shown with the failure report.
            print(f"\n===== log tail of worker {worker.name} =====")
            print(tails[worker.name])
            print(f"===== full log and stack dump: {worker.log_path} =====")
