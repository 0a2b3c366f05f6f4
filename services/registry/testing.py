"""Running a real registry for tests: in a thread of the test process, or as its own process.

Both serve real HTTP on a free local port against a real Kafka topic. Any
test that needs a schema registry (the SDK's, the gateway's) can use them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

import uvicorn

from services.registry.app import create_app
from weir.settings import Settings

_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RegistryThread:
    """A registry served by uvicorn in a background thread of this process."""

    def __init__(self, bootstrap: str, topic: str, *, timeout: float = 10.0) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        settings = Settings(
            kafka_bootstrap=bootstrap, registry_topic=topic, registry_timeout=timeout
        )
        config = uvicorn.Config(
            create_app(settings), log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def start(self, timeout: float = 60.0) -> RegistryThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the registry on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> RegistryThread:
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


class RegistryProcess:
    """``python -m services.registry`` as a child process (so a test can kill -9 it)."""

    def __init__(self, bootstrap: str, topic: str, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "WEIR_KAFKA_BOOTSTRAP": bootstrap,
            "WEIR_REGISTRY_TOPIC": topic,
            "WEIR_REGISTRY_PORT": str(self.port),
            "WEIR_REGISTRY_HOST": "127.0.0.1",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    def start(self, timeout: float = 60.0) -> RegistryProcess:
        # A file, not a pipe: nobody reads a pipe while the registry runs, and a full one blocks it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by kill)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.registry"],
            cwd=_ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the registry exited with {self.process.returncode}: {self.errors()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the registry on {self.url} did not answer within {timeout}s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def errors(self) -> str:
        """What the running registry wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def __enter__(self) -> RegistryProcess:
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.kill()
