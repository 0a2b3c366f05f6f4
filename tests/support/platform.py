"""The whole platform as real processes, for end-to-end and crash tests.

Registry, gateway, router, worker and an app, each a subprocess with its log
in the test's folder, all on free ports and on topics of their own (a unique
topic prefix), signed calls on (not dev mode). Any part can be killed with
SIGKILL and started again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx

from services.common.topics import Topics
from tests.support.kafka import unique
from tests.support.ports import free_port
from weir.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SIGNING_KEY = "test-signing-key-0123456789abcdef0123"


class Part:
    """One platform process."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        logdir: Path,
        *,
        url: str | None = None,
        ready_line: str | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log = logdir / f"{name}.log"
        self.url = url
        self.ready_line = ready_line
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 90.0) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        self._wait_ready(offset, timeout)

    def _wait_ready(self, offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.tail()}")
            if self.url is not None:
                try:
                    with urllib.request.urlopen(self.url, timeout=1):
                        return
                except urllib.error.HTTPError:
                    return
                except OSError:
                    pass
            elif self.ready_line is not None:
                with self.log.open("rb") as handle:
                    handle.seek(offset)
                    if self.ready_line.encode() in handle.read():
                        return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s:\n{self.tail()}")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill9()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Platform:
    """Registry, gateway, router, worker and the durable test app."""

    def __init__(
        self,
        bootstrap: str,
        workdir: Path,
        *,
        app_module: str = "tests.support.apps.durable",
        **settings: str,
    ) -> None:
        self.workdir = workdir
        self.bootstrap = bootstrap
        prefix = unique("e2e") + "."
        self.ports = {k: free_port() for k in ("registry", "gateway", "app")}
        self.steps_log = workdir / "steps.log"
        self.env = {
            **os.environ,
            "WEIR_KAFKA_BOOTSTRAP": bootstrap,
            "WEIR_HOME": str(workdir / "home"),
            "WEIR_DEV": "0",
            "WEIR_SIGNING_KEY": SIGNING_KEY,
            "WEIR_WORKER_ALLOW_PRIVATE_URLS": "1",
            "WEIR_TOPIC_PREFIX": prefix,
            "WEIR_EVENTS_TOPIC": prefix + "events",
            "WEIR_REGISTRY_TOPIC": prefix + "_schemas",
            "WEIR_REGISTRY_PORT": str(self.ports["registry"]),
            "WEIR_REGISTRY_URL": f"http://127.0.0.1:{self.ports['registry']}",
            "WEIR_GATEWAY_PORT": str(self.ports["gateway"]),
            "WEIR_GATEWAY_URL": f"http://127.0.0.1:{self.ports['gateway']}",
            "WEIR_GATEWAY_INSTANCE": unique("gw"),
            "WEIR_EVENT_KEYS": "test",
            "WEIR_APP_PORT": str(self.ports["app"]),
            "WEIR_APP_URL": f"http://127.0.0.1:{self.ports['app']}/api/weir",
            "WEIR_ROUTER_ID": unique("router"),
            "WEIR_WORKER_GROUP": unique("worker"),
            "WEIR_RETRY_BASE_SECONDS": "0.2",
            "WEIR_PLATFORM_PARTITIONS": "4",
            "WEIR_EVENTS_PARTITIONS": "4",
            "DURABLE_APP_LOG": str(self.steps_log),
            "PYTHONUNBUFFERED": "1",
            **settings,
        }
        self.app_url = self.env["WEIR_APP_URL"]
        self.settings = Settings(
            kafka_bootstrap=bootstrap,
            topic_prefix=prefix,
            events_topic=self.env["WEIR_EVENTS_TOPIC"],
            platform_partitions=int(self.env["WEIR_PLATFORM_PARTITIONS"]),
            events_partitions=int(self.env["WEIR_EVENTS_PARTITIONS"]),
        )
        self.topics = Topics(self.settings)
        py = sys.executable
        logs = workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.gateway_url = self.env["WEIR_GATEWAY_URL"]
        self.registry = Part(
            "registry",
            [py, "-m", "services.registry"],
            self.env,
            logs,
            url=self.env["WEIR_REGISTRY_URL"],
        )
        self.gateway = Part(
            "gateway",
            [py, "-m", "services.gateway"],
            self.env,
            logs,
            url=self.gateway_url + "/health",
        )
        self.routers = [self._router(0)]
        self.worker = Part(
            "worker", [py, "-m", "services.worker"], self.env, logs, ready_line="worker ready"
        )
        self.app = Part(
            "app",
            [py, "-m", app_module],
            self.env,
            logs,
            url=f"http://127.0.0.1:{self.ports['app']}/api/weir",
        )

    def _router(self, n: int) -> Part:
        env = {**self.env, "WEIR_ROUTER_DATADIR": str(self.workdir / f"router{n}")}
        return Part(
            f"router{n}",
            [sys.executable, "-m", "services.router"],
            env,
            self.workdir / "logs",
            ready_line="Worker]: Ready",
        )

    @property
    def router(self) -> Part:
        return self.routers[0]

    def add_router(self) -> Part:
        part = self._router(len(self.routers))
        self.routers.append(part)
        part.start()
        return part

    def start(self) -> Platform:
        for part in (self.registry, self.gateway, *self.routers, self.worker, self.app):
            part.start()
        self.wait_registered()
        return self

    def stop(self) -> None:
        for part in (self.app, self.worker, *self.routers, self.gateway, self.registry):
            part.stop()

    def __enter__(self) -> Platform:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def parts(self) -> tuple[Part, ...]:
        return (self.registry, self.gateway, *self.routers, self.worker, self.app)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in self.parts)

    def log_lines(self, needle: str) -> str:
        """Every line of every part's log that mentions ``needle`` (a run id, say)."""
        found = []
        for part in self.parts:
            if part.log.exists():
                for line in part.log.read_text(errors="replace").splitlines():
                    if needle in line:
                        found.append(f"{part.name}: {line}")
        return "\n".join(found)

    def wait_log(self, part: Part, text: str, timeout: float = 30.0) -> None:
        """Until ``text`` is in the part's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if part.log.exists() and text.encode() in part.log.read_bytes():
                return
            time.sleep(0.1)
        raise AssertionError(f"{part.name} never logged {text!r}:\n{part.tail()}")

    # -- using it ---------------------------------------------------------------

    def wait_registered(self, timeout: float = 30.0) -> None:
        """The app registers at start-up; wait until the router has read it."""
        deadline = time.monotonic() + timeout
        marker = b"functions at"
        # ...and until the worker consumes the new functions' task topics (its regex
        # subscription sees new topics at its next metadata refresh).
        task_topic = (self.env["WEIR_TOPIC_PREFIX"] + "fn.").encode()
        while time.monotonic() < deadline:
            if all(marker in r.log.read_bytes() for r in self.routers) and (
                b"assigned" in self.worker.log.read_bytes()
                and task_topic in self.worker.log.read_bytes().split(b"assigned", 1)[1]
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(
            "the app's registration never reached router and worker:\n" + self.logs()
        )

    def send(self, events: list[dict[str, Any]] | dict[str, Any]) -> list[str]:
        answer = httpx.post(f"{self.gateway_url}/e/test", json=events, timeout=30)
        assert answer.status_code == 200, answer.text
        ids: list[str] = answer.json()["ids"]
        return ids

    def run(self, run_id: str) -> dict[str, Any] | None:
        answer = httpx.get(f"{self.gateway_url}/v1/runs/{run_id}", timeout=10)
        return answer.json() if answer.status_code == 200 else None

    def runs_of(self, event_id: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.gateway_url}/v1/events/{event_id}/runs", timeout=10)
        assert answer.status_code == 200, answer.text
        runs: list[dict[str, Any]] = answer.json()["runs"]
        return runs

    def wait_runs(
        self, event_ids: list[str], *, per_event: int = 1, timeout: float = 60.0
    ) -> dict[str, list[dict[str, Any]]]:
        """Every event's runs, once each has ``per_event`` runs in a final state."""
        final = {"completed", "failed", "cancelled"}
        deadline = time.monotonic() + timeout
        found: dict[str, list[dict[str, Any]]] = {}
        pending = list(event_ids)
        while pending and time.monotonic() < deadline:
            still = []
            for event_id in pending:
                runs = self.runs_of(event_id)
                if len(runs) >= per_event and all(r["status"] in final for r in runs):
                    found[event_id] = runs
                else:
                    still.append(event_id)
            pending = still
            if pending:
                time.sleep(0.2)
        if pending:
            runs = self.runs_of(pending[0])
            mentions = "\n".join(self.log_lines(run["id"]) for run in runs)
            raise AssertionError(
                f"{len(pending)} events without final runs, e.g. {pending[0]}: {runs}\n"
                f"--- log lines about its runs ---\n{mentions}\n{self.logs()}"
            )
        return found

    def wait_status(self, event_id: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
        """The event's one run, once it has reached ``status``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs_of(event_id)
            if runs and runs[0]["status"] == status:
                return runs[0]
            time.sleep(0.1)
        raise AssertionError(f"no run of {event_id} reached {status}: {self.runs_of(event_id)}")

    def wait_run_status(self, run_id: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run is not None and run["status"] == status:
                return run
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} never reached {status}: {self.run(run_id)}")

    def wait_failure_runs(self, failed_run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The completed run of the failure watcher for ``failed_run_id``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for (run_id, step_id), _count in self.step_executions().items():
                if step_id == "failure-handler":
                    run = self.run(run_id)
                    if (
                        run
                        and run["status"] == "completed"
                        and run["output"] == {"handled": failed_run_id}
                    ):
                        return run
            time.sleep(0.2)
        raise AssertionError("the failure watcher never handled " + failed_run_id)

    def step_executions(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for key, _at in self.step_execution_times():
            counts[key] = counts.get(key, 0) + 1
        return counts

    def step_execution_times(self) -> list[tuple[tuple[str, str], int]]:
        """((run id, step id), epoch ms) of every real execution, in log order."""
        found: list[tuple[tuple[str, str], int]] = []
        if self.steps_log.exists():
            for line in self.steps_log.read_text().splitlines():
                run_id, step_id, at = line.split(" ")
                found.append(((run_id, step_id), int(at)))
        return found
