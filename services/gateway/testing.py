"""A real gateway for tests and benchmarks, on a free local port.

:class:`GatewayThread` serves a :class:`~services.gateway.app.Gateway` with
uvicorn in a background thread of the calling process (tests build it with
:func:`gateway_settings` and :func:`serve_gateway`); :class:`GatewayProcess`
runs ``python -m services.gateway`` as a child process configured by
environment variables, exactly as an operator starts it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from services.gateway.app import Gateway, create_app
from services.gateway.server import build_gateway, uvicorn_config
from weir.settings import Settings

_ROOT = Path(__file__).resolve().parents[2]


class GatewayThread:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(create_app(gateway)))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def start(self, timeout: float = 30.0) -> GatewayThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self.socket.close()

    def __enter__(self) -> GatewayThread:
        return self if self._thread.is_alive() else self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


def gateway_settings(bootstrap: str, topic: str, registry_url: str, **overrides: Any) -> Settings:
    """Settings of a gateway writing to ``topic``, with its own transactional ids."""
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "events_topic": topic,
        "registry_url": registry_url,
        "gateway_instance": f"test-{uuid.uuid4().hex[:12]}",
        "event_keys": "test-key",
        "gateway_producers": 2,
    }
    values.update(overrides)
    return Settings(**values)


def serve_gateway(settings: Settings) -> GatewayThread:
    """A started gateway built from ``settings`` (stop it, or use it as a context manager)."""
    return GatewayThread(build_gateway(settings)).start()


class GatewayProcess:
    """``python -m services.gateway`` as a child process, configured by environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "WEIR_GATEWAY_PORT": str(self.port)}
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: nobody reads a pipe while the gateway runs, and a full one
        # would block it. Kept after stop() so errors() can still be read.
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115

    def start(self, timeout: float = 60.0) -> GatewayProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.gateway"],
            cwd=_ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._errors,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited: {self.errors()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the gateway did not answer in {timeout}s") from None
                time.sleep(0.05)

    def errors(self) -> str:
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace")

    def stop(self) -> int | None:
        """Stop it (SIGTERM, then SIGKILL); its exit code."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return None if self.process is None else self.process.returncode

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
