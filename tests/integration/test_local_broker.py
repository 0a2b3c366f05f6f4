"""The local broker's lifecycle: start, find, survive kill -9, stop; and `weir dev`.

These start a second broker of their own (own WEIR_HOME, own ports) so the
session broker other tests use is never disturbed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.kafka.broker import LocalBroker, answers_metadata
from tests.support.kafka import Topics, produce, read_to_end
from tests.support.ports import free_port
from weir.settings import Settings

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_settings(tmp_path: Path, kafka_bootstrap: str) -> Settings:
    # Share the session's fetched jars so this test does not hit Maven again.
    home = tmp_path / "home"
    shared_libs = (Settings().home / "kafka" / "libs").resolve()
    (home / "kafka").mkdir(parents=True)
    if shared_libs.exists():
        (home / "kafka" / "libs").symlink_to(shared_libs)
    return Settings(home=home, kafka_port=free_port(), kafka_controller_port=free_port())


@pytest.fixture
def own_broker(own_settings: Settings) -> Iterator[LocalBroker]:
    broker = LocalBroker(own_settings)
    yield broker
    broker.stop(timeout=10)


def test_start_is_idempotent_and_stop_stops(own_broker: LocalBroker) -> None:
    first = own_broker.start()
    assert first.started_here
    assert first.pid is not None
    assert (own_broker.data / "meta.properties").exists(), "storage formatted on first use"

    second = own_broker.start()
    assert not second.started_here, "a second start finds the running broker"
    assert second.pid == first.pid

    assert own_broker.status().running
    assert own_broker.stop() is True
    assert not answers_metadata(own_broker.bootstrap, timeout=1.0)
    assert own_broker.stop() is False, "stopping twice is harmless"


def test_kill_9_then_start_recovers_the_data(own_broker: LocalBroker) -> None:
    status = own_broker.start()
    topics = Topics(own_broker.bootstrap)
    topic = topics.create("survive", partitions=2)
    produce(own_broker.bootstrap, topic, ((None, f"r{i}".encode()) for i in range(200)))

    assert status.pid is not None
    os.kill(status.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while own_broker.status().pid is not None and time.monotonic() < deadline:
        time.sleep(0.05)

    again = own_broker.start()
    assert again.started_here
    assert again.pid != status.pid
    values = sorted(m.value() for m in read_to_end(own_broker.bootstrap, topic))
    assert values == sorted(f"r{i}".encode() for i in range(200)), "acked records survive kill -9"


def _cli_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        WEIR_HOME=str(settings.home),
        WEIR_KAFKA_PORT=str(settings.kafka_port),
        WEIR_KAFKA_CONTROLLER_PORT=str(settings.kafka_controller_port),
        # `weir dev` starts the whole platform: keep it off the default ports.
        WEIR_REGISTRY_PORT=str(free_port()),
        WEIR_GATEWAY_PORT=str(free_port()),
        WEIR_APP_PORT=str(free_port()),
    )
    return env


def test_cli_start_status_stop(own_settings: Settings) -> None:
    env = _cli_env(own_settings)
    weir = [sys.executable, "-m", "weir.cli"]
    try:
        start = subprocess.run([*weir, "kafka", "start"], env=env, capture_output=True, text=True)
        assert start.returncode == 0, start.stderr
        assert "started at" in start.stdout
        again = subprocess.run([*weir, "kafka", "start"], env=env, capture_output=True, text=True)
        assert "already running" in again.stdout
        status = subprocess.run([*weir, "kafka", "status"], env=env, capture_output=True, text=True)
        assert status.returncode == 0
        assert "running" in status.stdout
    finally:
        stop = subprocess.run([*weir, "kafka", "stop"], env=env, capture_output=True, text=True)
    assert stop.returncode == 0
    assert "stopped" in stop.stdout
    status = subprocess.run([*weir, "kafka", "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 3
    assert "stopped" in status.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_weir_dev_stops_what_it_started(own_settings: Settings, signum: int) -> None:
    dev = subprocess.Popen(
        [sys.executable, "-m", "weir.cli", "dev"],
        env=_cli_env(own_settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    assert dev.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = dev.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "ready in" in output, output
        assert f"127.0.0.1:{own_settings.kafka_port}" in output
        assert answers_metadata(f"127.0.0.1:{own_settings.kafka_port}")
        dev.send_signal(signum)
        assert dev.wait(timeout=60) == 0
    finally:
        if dev.poll() is None:
            dev.kill()
    broker = LocalBroker(own_settings)
    assert broker.status().pid is None
    assert not answers_metadata(broker.bootstrap, timeout=1.0)
