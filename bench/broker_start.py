"""How long the local broker takes to become ready.

Prints, each measured from a separate, fresh WEIR_HOME on free ports:
  cold    empty Maven repository: download the jars, format, start
  fresh   jars cached, new data folder: format, start
  warm    restart on existing data
  dev     `weir dev` from launch to its ready line (jars cached, fresh data)

    .venv/bin/python bench/broker_start.py [--skip-cold] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.kafka.broker import LocalBroker
from weir.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _settings(home: Path) -> Settings:
    return Settings(home=home, kafka_port=free_port(), kafka_controller_port=free_port())


def time_start(broker: LocalBroker) -> float:
    began = time.perf_counter()
    status = broker.start()
    assert status.started_here
    return time.perf_counter() - began


def cold(tmp: Path) -> float:
    os.environ["MAVEN_OPTS"] = f"-Dmaven.repo.local={tmp / 'm2'}"
    try:
        broker = LocalBroker(_settings(tmp / "cold"))
        seconds = time_start(broker)
        broker.stop()
        return seconds
    finally:
        del os.environ["MAVEN_OPTS"]


def fresh_and_warm(tmp: Path, run: int) -> tuple[float, float]:
    home = tmp / f"fresh{run}"
    (home / "kafka").mkdir(parents=True)
    (home / "kafka" / "libs").symlink_to(LocalBroker().libs.parent.resolve())
    broker = LocalBroker(_settings(home))
    fresh = time_start(broker)
    broker.stop()
    warm = time_start(broker)
    broker.stop()
    return fresh, warm


def dev(tmp: Path, run: int) -> float:
    settings = _settings(tmp / f"dev{run}")
    (settings.home / "kafka").mkdir(parents=True)
    (settings.home / "kafka" / "libs").symlink_to(LocalBroker().libs.parent.resolve())
    env = dict(
        os.environ,
        WEIR_HOME=str(settings.home),
        WEIR_KAFKA_PORT=str(settings.kafka_port),
        WEIR_KAFKA_CONTROLLER_PORT=str(settings.kafka_controller_port),
    )
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "weir.cli", "dev"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Press Ctrl-C" in line:
            break
    seconds = time.perf_counter() - began
    proc.send_signal(2)
    proc.wait(60)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    LocalBroker().fetch_jars()  # the shared cache the warm runs use
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        print(f"Apache Kafka {Settings().kafka_version}, KRaft combined mode, one node")
        if not args.skip_cold:
            print(f"cold  (download jars + format + start): {cold(tmp):6.2f} s")
        fresh, warm, devs = [], [], []
        for run in range(args.runs):
            f, w = fresh_and_warm(tmp, run)
            fresh.append(f)
            warm.append(w)
            devs.append(dev(tmp, run))
        for label, values in (
            ("fresh (cached jars, format + start)", fresh),
            ("warm  (restart on existing data)   ", warm),
            ("weir dev to ready (cached jars)    ", devs),
        ):
            print(
                f"{label}: median {statistics.median(values):6.2f} s"
                f"  min {min(values):6.2f}  max {max(values):6.2f}  (n={len(values)})"
            )


if __name__ == "__main__":
    main()
