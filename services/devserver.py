"""`weir dev`: start every part of the platform locally and stay in the foreground.

The dev server starts the broker (unless one is already running), then each
service as a child process in dev mode, waits until each answers, prints
where each part listens, and streams their output with a name prefix. On
Ctrl-C (SIGINT) or SIGTERM it stops exactly what it started, in reverse
order: a broker that was running before `weir dev` is left alone. If a child
dies, the dev server says so and stops the rest.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from services.kafka.broker import LocalBroker
from weir.errors import WeirError
from weir.settings import Settings, get_settings

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Part:
    """One child process of the dev server."""

    name: str
    module: str  # run as `python -m <module>`
    url: str | None  # printed, and polled until it answers
    args: list[str] = field(default_factory=list)
    ready_path: str = "/"
    ready_line: str | None = None  # for parts without HTTP: a line of output that means ready
    proc: subprocess.Popen[str] | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def available(self) -> bool:
        """Parts whose service is not built yet are skipped, not failed."""
        try:
            return importlib.util.find_spec(f"{self.module}.__main__") is not None
        except ModuleNotFoundError:
            return False


def platform_parts(settings: Settings) -> list[Part]:
    """In start order: each part needs the ones before it."""
    return [
        Part("registry", "services.registry", f"http://127.0.0.1:{settings.registry_port}"),
        Part(
            "gateway",
            "services.gateway",
            f"http://127.0.0.1:{settings.gateway_port}",
            ready_path="/health",
        ),
        Part("router", "services.router", None, ready_line="Worker]: Ready"),
        Part("worker", "services.worker", None, ready_line="worker ready"),
        Part("app", "examples.shop", f"http://127.0.0.1:{settings.app_port}"),
    ]


class DevServer:
    def __init__(self, settings: Settings | None = None, out: IO[str] = sys.stdout) -> None:
        self.settings = settings or get_settings()
        self.out = out
        self.broker = LocalBroker(self.settings)
        self.broker_started = False
        self.parts = [p for p in platform_parts(self.settings) if p.available()]
        self.started: list[Part] = []
        self._print_lock = threading.Lock()

    def say(self, line: str) -> None:
        with self._print_lock:
            print(line, file=self.out, flush=True)

    def start(self) -> None:
        status = self.broker.start()
        self.broker_started = status.started_here
        how = "started" if status.started_here else "already running"
        self.say(f"  kafka     {status.bootstrap}  (Apache Kafka {status.version}, {how})")
        env = self._child_env(status.bootstrap)
        for part in self.parts:
            self._spawn(part, env)
            self._wait_ready(part)
            self.say(f"  {part.name:<9} {part.url or 'running'}")

    def stop(self) -> None:
        for part in reversed(self.started):
            proc = part.proc
            if proc is None or proc.poll() is not None:
                continue
            self.say(f"weir dev: stopping {part.name}")
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.started.clear()
        if self.broker_started:
            self.say("weir dev: stopping kafka")
            self.broker.stop()
            self.broker_started = False

    def dead_part(self) -> str | None:
        """Name of a part that exited on its own, if any."""
        for part in self.started:
            if part.proc is not None and part.proc.poll() is not None:
                return part.name
        if self.broker_started and self.broker.status().pid is None:
            return "kafka"
        return None

    # -- helpers -------------------------------------------------------------

    def _child_env(self, bootstrap: str) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("WEIR_DEV", "1")
        env["WEIR_KAFKA_BOOTSTRAP"] = bootstrap
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _spawn(self, part: Part, env: dict[str, str]) -> None:
        part.proc = subprocess.Popen(
            [sys.executable, "-m", part.module, *part.args],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the dev server, not the terminal, stops children
        )
        self.started.append(part)
        threading.Thread(target=self._pump, args=(part,), daemon=True).start()

    def _pump(self, part: Part) -> None:
        if part.proc is None or part.proc.stdout is None:
            return
        for line in part.proc.stdout:
            if part.ready_line is not None and part.ready_line in line:
                part.ready.set()
            self.say(f"[{part.name}] {line.rstrip()}")

    def _wait_ready(self, part: Part, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if part.proc is not None and part.proc.poll() is not None:
                raise DevServerError(f"{part.name} exited during start-up (see its output above)")
            if part.url is None:
                if part.ready.wait(0.1):
                    return
                continue
            try:
                with urllib.request.urlopen(part.url + part.ready_path, timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers HTTP: up
            except OSError:
                time.sleep(0.1)
        raise DevServerError(f"{part.name} was not ready within {timeout:.0f}s")


class DevServerError(WeirError):
    """A part of the dev server failed to start."""


def run_dev(settings: Settings | None = None) -> int:
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    server = DevServer(settings)
    began = time.monotonic()
    server.say("weir dev: starting")
    try:
        server.start()
        server.say(f"weir dev: ready in {time.monotonic() - began:.1f}s (dev mode: signatures off)")
        server.say("Press Ctrl-C to stop.")
        return _supervise(server, stop.is_set, stop.wait)
    finally:
        server.stop()
        server.say("weir dev: stopped")


def _supervise(
    server: DevServer, stopping: Callable[[], bool], wait: Callable[[float], bool]
) -> int:
    while not stopping():
        dead = server.dead_part()
        if dead is not None:
            server.say(f"weir dev: {dead} exited; stopping the rest")
            return 1
        wait(0.5)
    return 0
