"""Creates the platform's topics: nobody configures a queue by hand.

Idempotent: a topic that exists is left as it is. Called by the router and
the gateway on start-up and whenever an app registers new functions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from services.common.topics import Topics
from weir.errors import BrokerUnavailableError

log = logging.getLogger("weir.provision")

# Run history is the audit log of every run: keep it long by default.
HISTORY_RETENTION_MS = str(30 * 24 * 3600 * 1000)


def ensure_topics(bootstrap: str, specs: Iterable[NewTopic], timeout: float = 30.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wanted = list(specs)
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"Kafka at {bootstrap} did not answer: {exc}") from exc
    missing = [spec for spec in wanted if spec.topic not in existing]
    if not missing:
        return
    for name, future in admin.create_topics(missing, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
            log.info("created topic %s", name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerUnavailableError(f"could not create topic {name}: {exc}") from exc


def partition_count(bootstrap: str, topic: str, timeout: float = 30.0) -> int:
    """How many partitions ``topic`` has (0 if it does not exist)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        found = admin.list_topics(topic=topic, timeout=timeout).topics.get(topic)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"Kafka at {bootstrap} did not answer: {exc}") from exc
    if found is None or found.error is not None:
        return 0
    return len(found.partitions)


def platform_topics(topics: Topics) -> list[NewTopic]:
    """The topics every deployment has (task topics come with registrations)."""
    p = topics.partitions
    return [
        NewTopic(topics.events, topics.events_partitions, 1),
        NewTopic(topics.functions, 1, 1, config={"cleanup.policy": "compact"}),
        NewTopic(topics.results, p, 1),
        NewTopic(topics.runs, p, 1, config={"retention.ms": HISTORY_RETENTION_MS}),
        NewTopic(topics.waits, p, 1),
        NewTopic(topics.wait_paths, 1, 1, config={"cleanup.policy": "compact"}),
    ]


def task_topic(topics: Topics, app_id: str, function_id: str) -> NewTopic:
    return NewTopic(topics.task(app_id, function_id), topics.partitions, 1)
