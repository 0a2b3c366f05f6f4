"""The local development broker: Apache Kafka in KRaft combined mode, one node.

Built from Apache Kafka's own jars (fetched once per version by Maven, see
pom.xml beside this file) and run with Java; no Docker. Everything it writes
lives under ``$WEIR_HOME/kafka``:

    libs/<version>/     the broker's jars (a finished fetch has a .complete marker)
    data/               log.dirs, formatted on first start
    server.properties   written on every start from the settings
    broker.log          the broker's own output
    broker.pid          pid of the broker this folder started

``start`` is idempotent: it finds a running broker (ours, or any broker
already answering on the port) instead of starting a second one.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weir.errors import BrokerStartError, DependencyFetchError, ToolMissingError
from weir.settings import Settings, get_settings

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
MIN_JAVA = 17

log = logging.getLogger("weir.kafka")


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    bootstrap: str
    pid: int | None
    started_here: bool  # this call started it (False: found it running)
    managed: bool  # a broker this WEIR_HOME started (we may stop it)
    version: str


class LocalBroker:
    """Start, find and stop the single-node development broker."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.root = (self.settings.home / "kafka").resolve()
        self.version = self.settings.kafka_version
        self.libs = self.root / "libs" / self.version
        self.data = self.root / "data"
        self.config = self.root / "server.properties"
        self.logfile = self.root / "broker.log"
        self.pidfile = self.root / "broker.pid"

    @property
    def bootstrap(self) -> str:
        return f"{self.settings.kafka_host}:{self.settings.kafka_port}"

    # -- public API ------------------------------------------------------------

    def start(self) -> BrokerStatus:
        """Start the broker in the background, or find the one already running."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            pid = self._managed_pid()
            if pid is not None:
                self._wait_until_answering(pid)
                return self._status(pid, started_here=False)
            if answers_metadata(self.bootstrap, timeout=1.0):
                log.info("found a broker already answering at %s", self.bootstrap)
                return self._status(None, started_here=False)
            self._check_ports_free()
            java = find_java(self.settings)
            self.fetch_jars()
            self._write_config()
            self._format_storage(java)
            pid = self._spawn(java)
            self._wait_until_answering(pid)
            return self._status(pid, started_here=True)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker this folder started. True if one was running."""
        with self._lock():
            pid = self._managed_pid()
            if pid is None:
                self.pidfile.unlink(missing_ok=True)
                return False
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                log.warning("broker %s ignored SIGTERM for %.0fs; killing it", pid, timeout)
                os.kill(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.05)
            self.pidfile.unlink(missing_ok=True)
            return True

    def status(self) -> BrokerStatus:
        pid = self._managed_pid()
        running = answers_metadata(self.bootstrap, timeout=1.0)
        return BrokerStatus(
            running=running,
            bootstrap=self.bootstrap,
            pid=pid,
            started_here=False,
            managed=pid is not None,
            version=self.version,
        )

    def fetch_jars(self) -> Path:
        """The broker's jars for this version, fetched with Maven on first use."""
        marker = self.libs / ".complete"
        if marker.exists():
            return self.libs
        maven = shutil.which(self.settings.maven)
        if maven is None:
            raise ToolMissingError(
                "Maven is required to fetch the Kafka broker's jars: install Maven 3.8+ "
                "(e.g. `apt-get install maven`) or set WEIR_MAVEN to its path"
            )
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.version}-", dir=self.libs.parent))
        cmd = [
            maven, "-q", "-B", "-f", str(POM),
            f"-Dkafka.version={self.version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ]  # fmt: skip
        log.info("fetching Apache Kafka %s jars with Maven", self.version)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not any(staging.glob("kafka_*.jar")):
            shutil.rmtree(staging, ignore_errors=True)
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise DependencyFetchError(
                f"Maven could not fetch Apache Kafka {self.version}:\n{tail}",
                detail={"kafka_version": self.version},
            )
        (staging / ".complete").write_text(self.version + "\n")
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)
        return self.libs

    # -- steps of start ----------------------------------------------------------

    def _write_config(self) -> None:
        s = self.settings
        host = s.kafka_host
        # Tuned for one node on a small machine: replication 1 everywhere,
        # no initial rebalance delay (tests join groups constantly), and a
        # modest number of internal partitions so the first consumer group
        # and the first transaction do not wait for 50 partitions to appear.
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{s.kafka_controller_port}",
            f"listeners=PLAINTEXT://{host}:{s.kafka_port},"
            f"CONTROLLER://{host}:{s.kafka_controller_port}",
            f"advertised.listeners=PLAINTEXT://{host}:{s.kafka_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.data}",
            "num.partitions=1",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=4",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # After a kill -9 the restarted node cannot re-register until the
            # controller expires its old session (9 s by default): keep it short.
            "broker.session.timeout.ms=3000",
            "broker.heartbeat.interval.ms=500",
            "auto.create.topics.enable=true",
            "delete.topic.enable=true",
            "log.retention.hours=168",
            "log.segment.bytes=104857600",
            "num.network.threads=2",
            "num.io.threads=4",
        ]
        self.config.write_text("\n".join(lines) + "\n")

    def _format_storage(self, java: str) -> None:
        if (self.data / "meta.properties").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        cmd = [
            java, *self._jvm_logging(), "-cp", self._classpath(),
            "kafka.tools.StorageTool", "format",
            "-t", cluster_id, "-c", str(self.config),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BrokerStartError(
                "formatting the broker's storage failed:\n" + _tail(proc.stdout + proc.stderr)
            )

    def _spawn(self, java: str) -> int:
        heap = self.settings.kafka_heap
        cmd = [
            java, f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", *self._jvm_logging(),
            "-cp", self._classpath(), "kafka.Kafka", str(self.config),
        ]  # fmt: skip
        with self.logfile.open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal must not reach the broker
                cwd=self.root,
            )
        self.pidfile.write_text(f"{proc.pid}\n")
        return proc.pid

    def _wait_until_answering(self, pid: int) -> None:
        deadline = time.monotonic() + self.settings.kafka_start_timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                self.pidfile.unlink(missing_ok=True)
                raise BrokerStartError(
                    f"the broker exited during start-up; its log ({self.logfile}) ends with:\n"
                    + _tail(self._read_log())
                )
            if answers_metadata(self.bootstrap, timeout=1.0):
                return
            time.sleep(0.1)
        raise BrokerStartError(
            f"the broker did not answer a metadata request within "
            f"{self.settings.kafka_start_timeout:.0f}s; see {self.logfile}"
        )

    # -- helpers -------------------------------------------------------------

    def _status(self, pid: int | None, *, started_here: bool) -> BrokerStatus:
        return BrokerStatus(
            running=True,
            bootstrap=self.bootstrap,
            pid=pid,
            started_here=started_here,
            managed=pid is not None,
            version=self.version,
        )

    def _managed_pid(self) -> int | None:
        """The pid in broker.pid if that process is still our broker."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        # Guard against pid reuse: the process must be kafka.Kafka on our config.
        if b"kafka.Kafka" in cmdline and str(self.config).encode() in cmdline and _alive(pid):
            return pid
        return None

    def _check_ports_free(self) -> None:
        for port in (self.settings.kafka_port, self.settings.kafka_controller_port):
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self.settings.kafka_host, port))
                except OSError as exc:
                    raise BrokerStartError(
                        f"port {port} on {self.settings.kafka_host} is taken by another program; "
                        "set WEIR_KAFKA_PORT / WEIR_KAFKA_CONTROLLER_PORT to free ports",
                        detail={"port": port},
                    ) from exc

    def _classpath(self) -> str:
        return str(self.libs / "*")

    def _jvm_logging(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.root}",
        ]

    def _read_log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialize start/stop across processes sharing this WEIR_HOME."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def find_java(settings: Settings) -> str:
    """Path of a Java 17+ executable, or a one-line error saying what to install."""
    candidate = settings.java
    java_home = os.environ.get("JAVA_HOME")
    if candidate == "java" and java_home and (Path(java_home) / "bin" / "java").exists():
        candidate = str(Path(java_home) / "bin" / "java")
    path = shutil.which(candidate)
    hint = "install a Java 17 runtime (e.g. `apt-get install openjdk-17-jre-headless`)"
    if path is None:
        raise ToolMissingError(f"Java is required to run the local Kafka broker: {hint}")
    proc = subprocess.run([path, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise ToolMissingError(
            f"the local Kafka broker needs Java {MIN_JAVA}+, found {major or 'unknown'} "
            f"at {path}: {hint}, or set WEIR_JAVA"
        )
    return path


def answers_metadata(bootstrap: str, timeout: float = 1.0) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request."""
    from confluent_kafka.admin import AdminClient

    quiet = logging.getLogger("weir.kafka.probe")
    quiet.setLevel(logging.CRITICAL)
    quiet.propagate = False
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": quiet, "log_level": 0}
    admin = AdminClient(config)
    try:
        admin.list_topics(timeout=timeout)
    except Exception:  # KafkaException: not (yet) answering
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (killed, not yet reaped) is not alive.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
