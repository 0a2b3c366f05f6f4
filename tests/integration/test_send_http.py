"""The SDK's HTTP transport against the real gateway, registry and broker.

The gateway runs as ``python -m services.gateway``; events it acknowledges
are read back from Kafka with Confluent's AvroDeserializer.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.test_send_direct import (
    ROOT,
    _free_port,
    read_whole_events,
    registry_url,  # noqa: F401  (the module-scoped fixture)
)
from tests.support.kafka import unique
from weir import Event, Weir
from weir.errors import EventInvalidError, SchemaIncompatibleError

pytestmark = pytest.mark.kafka


class Ping(Event, name="http/ping", version="3"):
    n: int
    note: str | None = None


@pytest.fixture(scope="module")
def gateway(kafka_bootstrap: str, registry_url: str) -> Iterator[tuple[str, str]]:  # noqa: F811
    """(gateway URL, its events topic)."""
    topic = unique("http-events")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    port = _free_port()
    env = {
        **os.environ,
        "WEIR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WEIR_GATEWAY_HOST": "127.0.0.1",
        "WEIR_GATEWAY_PORT": str(port),
        "WEIR_GATEWAY_INSTANCE": unique("gw"),
        "WEIR_REGISTRY_URL": registry_url,
        "WEIR_EVENTS_TOPIC": topic,
        "WEIR_SCHEMA_POLICY": "infer",
        "WEIR_DEV": "1",  # any event key is accepted
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.gateway"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"the gateway exited ({process.returncode}):\n{output}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/health", timeout=1) as response,
            ):
                if response.status == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail("the gateway did not answer within 60s")
            time.sleep(0.2)
        yield url, topic
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for future in admin.delete_topics([topic]).values():
            with contextlib.suppress(Exception):  # the gateway may not have made it
                future.result(timeout=30)


def test_events_sent_over_http_are_whole_avro_events_in_kafka(
    kafka_bootstrap: str,
    registry_url: str,  # noqa: F811
    gateway: tuple[str, str],
) -> None:
    url, topic = gateway
    with Weir("http-it", transport=url, registry=registry_url, event_key="any") as weir:
        typed = Ping(data={"n": 1}, user={"ip": "1.2.3.4"})
        assert weir.send_sync(typed) == [typed.id]
        ids = weir.send_sync(
            [
                {"name": "http/raw", "data": {"a": 1}},
                {"name": "http/raw", "data": {"a": 2, "b": "x"}},
            ]
        )
        assert len(ids) == 2
        with pytest.raises(SchemaIncompatibleError) as incompatible:
            weir.send_sync("http/raw", data={"a": "now a string"})
        assert incompatible.value.detail["path"] == "data.a"
        with pytest.raises(EventInvalidError) as invalid:
            weir.send_sync("http/raw", data=[1])  # type: ignore[arg-type]
        assert invalid.value.path == "data"
    events = {e["id"]: e for _, e in read_whole_events(kafka_bootstrap, registry_url, topic)}
    assert set(events) == {typed.id, *ids}
    ping = events[typed.id]
    assert ping["name"] == "http/ping"
    assert ping["v"] == "3"
    assert ping["user"] == {"ip": "1.2.3.4"}
    assert ping["data"] == {"n": 1, "note": None}  # the class's own schema, not an inferred one
    # each written with the schema version of its time: v1, then v2 (b added)
    assert [events[i]["data"] for i in ids] == [{"a": 1}, {"a": 2, "b": "x"}]
