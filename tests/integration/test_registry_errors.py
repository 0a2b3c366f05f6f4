"""Every error the registry answers with, by Confluent's code, over real HTTP.

Each case also checks that a refused request changed nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.registry.records import NoopKey
from services.registry.state import RegistryState
from services.registry.store import KafkaLog
from services.registry.testing import RegistryThread
from tests.support.kafka import Topics, unique
from weir.errors import RegistryStoreError

pytestmark = pytest.mark.kafka

S = "shop%2Fcart.added"  # the subject shop/cart.added, as it travels in a path
USER = {"type": "record", "name": "User", "fields": [{"name": "id", "type": "string"}]}
USER_V2 = {
    **USER,
    "fields": [*USER["fields"], {"name": "email", "type": ["null", "string"], "default": None}],
}


def schema(value: dict[str, Any]) -> dict[str, str]:
    return {"schema": json.dumps(value)}


@pytest.fixture
def registry(kafka_bootstrap: str, topics: Topics) -> Iterator[RegistryThread]:
    topic = unique("_schemas")
    topics.created.append(topic)
    with RegistryThread(kafka_bootstrap, topic) as server:
        yield server


@pytest.fixture
def http(registry: RegistryThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url) as client:
        yield client


def refused(answer: httpx.Response, status: int, code: int, *words: str) -> None:
    assert (answer.status_code, answer.json()["error_code"]) == (status, code), answer.text
    for word in words:
        assert word in answer.json()["message"], answer.text


def test_not_found_codes(http: httpx.Client) -> None:
    refused(http.get(f"/subjects/{S}/versions"), 404, 40401, "shop/cart.added")
    refused(http.get(f"/subjects/{S}/versions/1"), 404, 40401)
    refused(http.post(f"/subjects/{S}", json=schema(USER)), 404, 40401)
    refused(http.delete(f"/subjects/{S}"), 404, 40401)
    refused(http.get(f"/subjects/{S}/versions/1/referencedby"), 404, 40401)
    refused(http.get("/schemas/ids/42"), 404, 40403, "42")
    refused(http.get("/schemas/ids/42/schema"), 404, 40403)
    refused(http.get("/schemas/ids/42/subjects"), 404, 40403)
    refused(http.get("/schemas/ids/42/versions"), 404, 40403)
    refused(http.get("/schemas/ids/not-a-number"), 404, 40403)

    assert http.post(f"/subjects/{S}/versions", json=schema(USER)).json() == {"id": 1}
    refused(http.get(f"/subjects/{S}/versions/7"), 404, 40402, "7")
    refused(http.post(f"/subjects/{S}", json=schema(USER_V2)), 404, 40403)
    refused(http.get(f"/config/{S}"), 404, 40408)
    refused(http.delete(f"/config/{S}"), 404, 40408)
    refused(http.get(f"/mode/{S}"), 404, 40409)
    refused(http.delete(f"/mode/{S}"), 404, 40409)
    assert http.get(f"/config/{S}?defaultToGlobal=true").json() == {
        "compatibilityLevel": "BACKWARD"
    }
    assert http.get(f"/mode/{S}?defaultToGlobal=true").json() == {"mode": "READWRITE"}


def test_delete_order_codes(http: httpx.Client) -> None:
    http.post(f"/subjects/{S}/versions", json=schema(USER))
    http.post(f"/subjects/{S}/versions", json=schema(USER_V2))
    refused(http.delete(f"/subjects/{S}?permanent=true"), 404, 40405)
    refused(http.delete(f"/subjects/{S}/versions/1?permanent=true"), 404, 40407)
    assert http.delete(f"/subjects/{S}/versions/1").json() == 1
    refused(http.delete(f"/subjects/{S}/versions/1"), 404, 40406)
    refused(http.get(f"/subjects/{S}/versions/1"), 404, 40402)
    assert http.get(f"/subjects/{S}/versions/1?deleted=true").json()["id"] == 1
    assert http.delete(f"/subjects/{S}").json() == [2]
    refused(http.delete(f"/subjects/{S}"), 404, 40404, "soft deleted")
    refused(http.get(f"/subjects/{S}/versions/latest"), 404, 40401)
    assert http.get(f"/subjects/{S}/versions/latest?deleted=true").json()["version"] == 2
    assert http.delete(f"/subjects/{S}?permanent=true").json() == [1, 2]
    refused(http.delete(f"/subjects/{S}?permanent=true"), 404, 40401)


def test_incompatible_and_invalid_schemas(http: httpx.Client) -> None:
    assert http.post(f"/subjects/{S}/versions", json=schema(USER)).json() == {"id": 1}
    needs_email = {**USER, "fields": [*USER["fields"], {"name": "email", "type": "string"}]}
    refused(
        http.post(f"/subjects/{S}/versions", json=schema(needs_email)),
        409,
        409,
        "email",
        "BACKWARD",
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"schema": "{not json"}, "not JSON"),
        (
            schema({"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}),
            "nope",
        ),
        (
            schema(
                {
                    "type": "record",
                    "name": "X",
                    "fields": [{"name": "a", "type": "int", "default": "x"}],
                }
            ),
            "default",
        ),
        ({"schema": json.dumps(USER), "schemaType": "PROTOBUF"}, "PROTOBUF"),
        ({"schema": "{}", "schemaType": "JSON"}, "JSON"),
        ({"schema": ""}, "Empty schema"),
        ({}, "Empty schema"),
        ({"schema": USER}, "string"),
        (
            {
                "schema": json.dumps(USER),
                "references": [{"name": "A", "subject": "nope", "version": 1}],
            },
            "nope",
        ),
        ({"schema": json.dumps(USER), "references": [{"subject": "x"}]}, "reference"),
    ]
    for body, word in cases:
        refused(http.post(f"/subjects/{S}/versions", json=body), 422, 42201, word)
        refused(http.post(f"/compatibility/subjects/{S}/versions/latest", json=body), 422, 42201)
    refused(http.post(f"/subjects/{S}", json={"schema": "{not json"}), 422, 42201)
    assert http.get(f"/subjects/{S}/versions").json() == [1]
    assert http.get("/subjects").json() == ["shop/cart.added"]


def test_invalid_version_level_and_mode(http: httpx.Client) -> None:
    http.post(f"/subjects/{S}/versions", json=schema(USER))
    for bad in ("0", "-2", "abc", str(2**31), "1.5"):
        refused(http.get(f"/subjects/{S}/versions/{bad}"), 422, 42202, bad)
        refused(http.delete(f"/subjects/{S}/versions/{bad}"), 422, 42202)
    assert http.get(f"/subjects/{S}/versions/-1").json()["version"] == 1
    refused(http.put("/config", json={"compatibility": "SIDEWAYS"}), 422, 42203, "SIDEWAYS")
    refused(http.put(f"/config/{S}", json={}), 422, 42203)
    refused(http.put("/mode", json={"mode": "WRITEONLY"}), 422, 42204, "WRITEONLY")
    refused(http.put(f"/mode/{S}", json={"mode": 3}), 422, 42204)
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert http.get("/mode").json() == {"mode": "READWRITE"}


def test_modes_refuse_what_they_forbid(http: httpx.Client) -> None:
    first = http.post(f"/subjects/{S}/versions", json=schema(USER)).json()["id"]
    with_id = {**schema(USER_V2), "id": 100, "version": 5}
    refused(http.post(f"/subjects/{S}/versions", json=with_id), 422, 42205, "IMPORT")
    refused(http.put("/mode", json={"mode": "IMPORT"}), 422, 42205, "existing")
    refused(http.put(f"/mode/{S}", json={"mode": "IMPORT"}), 422, 42205)

    assert http.put(f"/mode/{S}", json={"mode": "READONLY"}).json() == {"mode": "READONLY"}
    refused(http.post(f"/subjects/{S}/versions", json=schema(USER_V2)), 422, 42205, "read-only")
    refused(http.delete(f"/subjects/{S}/versions/1"), 422, 42205)
    refused(http.delete(f"/subjects/{S}"), 422, 42205)

    # IMPORT keeps the ids and versions it is given, and refuses to overwrite.
    assert http.put(f"/mode/{S}?force=true", json={"mode": "IMPORT"}).json() == {"mode": "IMPORT"}
    refused(http.post(f"/subjects/{S}/versions", json=schema(USER_V2)), 422, 42205, "id")
    refused(http.post(f"/subjects/{S}/versions", json={**schema(USER_V2), "id": first}), 422, 42205)
    refused(
        http.post(f"/subjects/{S}/versions", json={**schema(USER_V2), "id": 100, "version": 1}),
        422,
        42205,
    )
    assert http.post(f"/subjects/{S}/versions", json=with_id).json() == {"id": 100}
    assert http.get(f"/subjects/{S}/versions/5").json()["id"] == 100
    assert http.get(f"/subjects/{S}/versions").json() == [1, 5]


def test_a_referenced_version_cannot_be_deleted(http: httpx.Client) -> None:
    http.post("/subjects/address/versions", json=schema({**USER, "name": "Address"}))
    customer = {
        "type": "record",
        "name": "Customer",
        "fields": [{"name": "home", "type": "Address"}],
    }
    body = {
        **schema(customer),
        "references": [{"name": "Address", "subject": "address", "version": 1}],
    }
    customer_id = http.post("/subjects/customer/versions", json=body).json()["id"]
    assert http.get("/subjects/address/versions/1/referencedby").json() == [customer_id]
    got = http.get("/subjects/customer/versions/1").json()
    assert got["references"] == body["references"]
    refused(http.delete("/subjects/address/versions/1"), 422, 42206)
    refused(http.delete("/subjects/address"), 422, 42206)
    assert http.get("/subjects/address/versions").json() == [1]


def test_http_level_errors(http: httpx.Client) -> None:
    refused(http.get("/nowhere"), 404, 404)
    refused(http.patch("/subjects"), 405, 405)
    refused(
        http.post(
            f"/subjects/{S}/versions",
            content=b"{oops",
            headers={"content-type": "application/json"},
        ),
        400,
        400,
    )
    refused(http.post(f"/subjects/{S}/versions", json=["a"]), 400, 400)
    refused(
        http.post(f"/subjects/{S}/versions", content=b"{}", headers={"content-type": "text/plain"}),
        415,
        415,
    )
    ok = http.post(
        f"/subjects/{S}/versions",
        content=json.dumps(schema(USER)).encode(),
        headers={"content-type": "application/vnd.schemaregistry.v1+json"},
    )
    assert ok.json() == {"id": 1}
    assert ok.headers["content-type"].startswith("application/vnd.schemaregistry.v1+json")
    assert http.get("/").json() == {}


def test_kafka_refusing_a_write_is_50001_and_changes_nothing(http: httpx.Client) -> None:
    huge = {**USER, "doc": "x" * 1_200_000}  # over Kafka's default 1 MB record limit
    refused(http.post(f"/subjects/{S}/versions", json=schema(huge)), 500, 50001, "Kafka")
    refused(http.get(f"/subjects/{S}/versions"), 404, 40401)
    # The claim the failed write held was released: the subject takes a schema at once.
    assert http.post(f"/subjects/{S}/versions", json=schema(USER)).json() == {"id": 1}
    assert http.get(f"/subjects/{S}/versions").json() == [1]


def test_a_write_not_read_back_in_time_is_50002(kafka_bootstrap: str, topics: Topics) -> None:
    topic = unique("_schemas")
    topics.created.append(topic)
    log = KafkaLog(kafka_bootstrap, topic, RegistryState())
    try:
        log.start()
        with pytest.raises(RegistryStoreError) as timed_out:
            log.wait_applied(10**9, timeout=0.2)  # an offset the reader will not reach
        assert (timed_out.value.error_code, timed_out.value.status) == (50002, 500)
        assert timed_out.value.retryable
        log.write([(NoopKey(), None)])  # and the log still works afterwards
    finally:
        log.close()
