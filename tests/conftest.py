"""Session-wide fixtures: one real broker for the whole run, own topics per test.

The broker is started once per session (or a running one is reused). When it
cannot start, integration tests fail under CI=true and are skipped elsewhere,
so a laptop without Java can still run the unit tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.kafka import Topics
from weir.errors import WeirError


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("WEIR_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    from services.kafka.broker import LocalBroker

    broker = LocalBroker()
    try:
        status = broker.start()
    except WeirError as exc:
        if _truthy(os.environ.get("CI")):
            pytest.fail(f"the Kafka broker could not start under CI: {exc}", pytrace=False)
        pytest.skip(f"no Kafka broker: {exc}")
    yield status.bootstrap
    if status.started_here and not _truthy(os.environ.get("WEIR_TEST_KEEP_BROKER")):
        broker.stop()


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[Topics]:
    made = Topics(kafka_bootstrap)
    yield made
    made.delete_all()
