"""The worker's Kafka client settings, derived from Weir's settings in one place."""

from __future__ import annotations

import socket
from typing import Any

from weir.settings import Settings

# How often the consumer re-reads topic metadata; a regex subscription sees a
# new function's task topic only then, so this bounds how long the first task
# of a newly registered function waits for a worker.
TOPIC_REFRESH_MS = 2000


def group_id(settings: Settings) -> str:
    return settings.worker_group or f"{settings.topic_prefix}worker"


def consumer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": group_id(settings),
        "client.id": f"weir-worker-{socket.gethostname()}",
        # Offsets are committed by hand, only up to the oldest unfinished task.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # Tasks written before a worker first joined (a new function's topic) count.
        "auto.offset.reset": "earliest",
        "topic.metadata.refresh.interval.ms": TOPIC_REFRESH_MS,
        # Incremental rebalancing: a new task topic (a new function) adds partitions
        # without revoking the ones whose calls are in flight, which would otherwise
        # be delivered again to this same worker.
        "partition.assignment.strategy": "cooperative-sticky",
        # A resumed partition is served only after the fetch in flight when it was
        # paused returns: a shorter long-poll makes resuming prompt (idle cost: a
        # few more fetch requests a second).
        "fetch.wait.max.ms": 100,
        # A worker killed outright is noticed after this long (Kafka's 45 s default
        # would leave its tasks unattended for most of a minute).
        "session.timeout.ms": int(settings.worker_session_timeout * 1000),
        "heartbeat.interval.ms": max(1000, int(settings.worker_session_timeout * 1000) // 3),
    }
    if settings.worker_instance:
        config["group.instance.id"] = settings.worker_instance
    config.update(overrides)
    return config


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"weir-worker-{socket.gethostname()}",
        "acks": "all",
        "enable.idempotence": True,
        # Java's partitioner (Faust/aiokafka use it too): an outcome must land in
        # the partition of its run's table, where the router wrote the start.
        "partitioner": "murmur2_random",
        # Outcomes are latency-bound: send at once. Under load librdkafka still
        # batches what is produced while a request is in flight. A 1 ms linger
        # cost ~1-2 ms per step transition through the platform; it saved
        # ~0.2 ms of worker and broker CPU per run in bursts (sustained ~800
        # instead of ~710 runs/s of a 3-step no-op on 2 cores): latency wins.
        "linger.ms": 0,
        # Outcomes and history carry step results (JSON): they compress well.
        "compression.type": "lz4",
    }
    config.update(overrides)
    return config
