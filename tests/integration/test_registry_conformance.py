"""Confluent's own Python client and Avro serde against Weir's registry, over real HTTP.

Each test runs its own registry (uvicorn in a thread) on its own ``_schemas``
topic of the real broker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from services.registry.testing import RegistryThread
from tests.support.kafka import Topics, unique

pytestmark = pytest.mark.kafka

SUBJECT = "shop/cart.added"  # a Weir event name: the '/' travels as %2F

CART_V1 = {
    "type": "record",
    "name": "CartAdded",
    "namespace": "shop",
    "fields": [{"name": "cart_id", "type": "string"}, {"name": "user_id", "type": "string"}],
}
CART_V2 = {  # adds an optional field with a default: compatible both ways
    **CART_V1,
    "fields": [
        *CART_V1["fields"],
        {"name": "coupon", "type": ["null", "string"], "default": None},
    ],
}
CART_REQUIRED_FIELD = {  # adds a field without a default: new readers cannot read old data
    **CART_V1,
    "fields": [*CART_V1["fields"], {"name": "total", "type": "double"}],
}
CART_WITHOUT_USER = {  # removes a required field: old readers cannot read new data
    **CART_V1,
    "fields": [CART_V1["fields"][0]],
}


def avro(schema: dict[str, Any], **dumps: Any) -> Schema:
    return Schema(json.dumps(schema, **dumps), "AVRO")


@pytest.fixture
def registry(kafka_bootstrap: str, topics: Topics) -> Iterator[RegistryThread]:
    topic = unique("_schemas")
    topics.created.append(topic)  # the registry creates it; the fixture deletes it
    with RegistryThread(kafka_bootstrap, topic) as server:
        yield server


@pytest.fixture
def client(registry: RegistryThread) -> Iterator[SchemaRegistryClient]:
    sr = SchemaRegistryClient({"url": registry.url})
    yield sr
    sr.close()


def error_code(excinfo: pytest.ExceptionInfo[SchemaRegistryError]) -> tuple[int, int]:
    return excinfo.value.http_status_code, excinfo.value.error_code


def test_register_is_idempotent_and_ids_are_shared_across_subjects(
    client: SchemaRegistryClient,
) -> None:
    first = client.register_schema(SUBJECT, avro(CART_V1))
    # The same schema written differently (spacing, key order) is the same schema.
    reordered = {"fields": CART_V1["fields"], "namespace": "shop", "name": "CartAdded"}
    assert client.register_schema(SUBJECT, avro({"type": "record", **reordered}, indent=4)) == first
    assert client.register_schema("other-subject", avro(CART_V1)) == first
    assert client.get_versions(SUBJECT) == [1]
    assert client.get_versions("other-subject") == [1]

    found = client.lookup_schema(SUBJECT, avro(CART_V1, indent=2))
    assert (found.schema_id, found.version, found.subject) == (first, 1, SUBJECT)
    # Stored in normal form: full names, no namespace key.
    normal = {"type": "record", "name": "shop.CartAdded", "fields": CART_V1["fields"]}
    assert json.loads(client.get_schema(first).schema_str) == normal
    assert sorted(client.get_subjects()) == sorted([SUBJECT, "other-subject"])
    assert sorted(client.get_subjects_by_schema_id(first)) == sorted([SUBJECT, "other-subject"])
    pairs = {(v.subject, v.version) for v in client.get_schema_versions(first)}
    assert pairs == {(SUBJECT, 1), ("other-subject", 1)}
    assert client.get_schema_types() == ["AVRO"]


def test_compatible_evolution_gets_a_new_version_and_id(client: SchemaRegistryClient) -> None:
    v1 = client.register_schema(SUBJECT, avro(CART_V1))
    assert client.test_compatibility(SUBJECT, avro(CART_V2)) is True
    v2 = client.register_schema(SUBJECT, avro(CART_V2))
    assert v2 != v1
    assert client.get_versions(SUBJECT) == [1, 2]
    latest = client.get_latest_version(SUBJECT)
    assert (latest.schema_id, latest.version) == (v2, 2)
    assert json.loads(latest.schema.schema_str)["fields"][2]["name"] == "coupon"
    assert client.get_version(SUBJECT, 1).schema_id == v1


def test_incompatible_changes_are_refused_with_409(
    client: SchemaRegistryClient, registry: RegistryThread
) -> None:
    client.register_schema(SUBJECT, avro(CART_V1))
    # BACKWARD (the default): adding a field without a default breaks new readers.
    assert client.test_compatibility(SUBJECT, avro(CART_REQUIRED_FIELD)) is False
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(SUBJECT, avro(CART_REQUIRED_FIELD))
    assert error_code(refused) == (409, 409)
    assert "total" in refused.value.error_message

    # FORWARD: removing a required field breaks old readers.
    assert client.set_compatibility(SUBJECT, "FORWARD") == {"compatibility": "FORWARD"}
    assert client.get_compatibility(SUBJECT) == "FORWARD"
    assert client.test_compatibility(SUBJECT, avro(CART_WITHOUT_USER)) is False
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(SUBJECT, avro(CART_WITHOUT_USER))
    assert error_code(refused) == (409, 409)
    assert "user_id" in refused.value.error_message
    # Under FORWARD the field without a default is fine: old readers ignore it.
    assert client.test_compatibility(SUBJECT, avro(CART_REQUIRED_FIELD)) is True
    assert client.test_compatibility_all_versions(SUBJECT, avro(CART_V2)) is True
    assert client.get_versions(SUBJECT) == [1]

    # Verbose answers name what breaks.
    answer = httpx.post(
        f"{registry.url}/compatibility/subjects/shop%2Fcart.added/versions/latest?verbose=true",
        json={"schema": json.dumps(CART_WITHOUT_USER)},
    ).json()
    assert answer["is_compatible"] is False
    assert any("user_id" in message for message in answer["messages"])


def test_soft_then_permanent_delete(client: SchemaRegistryClient) -> None:
    v1 = client.register_schema(SUBJECT, avro(CART_V1))
    client.register_schema(SUBJECT, avro(CART_V2))
    with pytest.raises(SchemaRegistryError) as refused:
        client.delete_subject(SUBJECT, permanent=True)
    assert error_code(refused) == (404, 40405)

    assert client.delete_subject(SUBJECT) == [1, 2]
    assert client.get_subjects() == []
    assert client.get_subjects(deleted=True) == [SUBJECT]
    with pytest.raises(SchemaRegistryError) as gone:
        client.get_versions(SUBJECT)
    assert error_code(gone) == (404, 40401)
    assert client.get_versions(SUBJECT, deleted=True) == [1, 2]
    assert client.get_schema(v1).schema_str  # ids of soft-deleted schemas still resolve

    assert client.delete_subject(SUBJECT, permanent=True) == [1, 2]
    assert client.get_subjects(deleted=True) == []
    fresh = SchemaRegistryClient({"url": client._rest_client.base_urls[0]})
    with pytest.raises(SchemaRegistryError) as gone:
        fresh.get_schema(v1)
    assert error_code(gone) == (404, 40403)


def test_delete_one_version(client: SchemaRegistryClient) -> None:
    client.register_schema(SUBJECT, avro(CART_V1))
    client.register_schema(SUBJECT, avro(CART_V2))
    assert client.delete_version(SUBJECT, 2) == 2
    assert client.get_versions(SUBJECT) == [1]
    assert client.get_latest_version(SUBJECT).version == 1
    with pytest.raises(SchemaRegistryError) as refused:
        client.delete_version(SUBJECT, 1, permanent=True)
    assert error_code(refused) == (404, 40407)
    assert client.delete_version(SUBJECT, 2, permanent=True) == 2
    assert client.get_versions(SUBJECT, deleted=True) == [1]


def test_config_and_mode(client: SchemaRegistryClient) -> None:
    assert client.get_compatibility() == "BACKWARD"
    # The client hands back the response body of PUT /config.
    assert client.set_compatibility(level="full_transitive") == {"compatibility": "FULL_TRANSITIVE"}
    assert client.get_compatibility() == "FULL_TRANSITIVE"
    with pytest.raises(SchemaRegistryError) as unset:
        client.get_compatibility(SUBJECT)
    assert error_code(unset) == (404, 40408)
    assert client.set_compatibility(SUBJECT, "NONE") == {"compatibility": "NONE"}
    assert client.get_config(SUBJECT).compatibility_level.value == "NONE"
    assert client.delete_config(SUBJECT).compatibility_level.value == "NONE"
    assert client.get_config().compatibility_level.value == "FULL_TRANSITIVE"

    assert client.get_global_mode() == "READWRITE"
    assert client.update_mode(SUBJECT, "READONLY") == "READONLY"
    assert client.get_mode(SUBJECT) == "READONLY"
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(SUBJECT, avro(CART_V1))
    assert error_code(refused) == (422, 42205)
    assert client.delete_mode(SUBJECT) == "READONLY"
    assert client.register_schema(SUBJECT, avro(CART_V1)) >= 1


def test_avro_serde_round_trip_on_a_subject_with_a_slash(client: SchemaRegistryClient) -> None:
    def cart_subject(_ctx: SerializationContext, _record_name: str | None) -> str:
        return SUBJECT

    conf = {"subject.name.strategy": cart_subject}
    write_v1 = AvroSerializer(client, json.dumps(CART_V1), conf=conf)
    write_v2 = AvroSerializer(client, json.dumps(CART_V2), conf=conf)
    read = AvroDeserializer(SchemaRegistryClient({"url": client._rest_client.base_urls[0]}))
    ctx = SerializationContext("weir.events", MessageField.VALUE)

    old = {"cart_id": "c1", "user_id": "u1"}
    new = {"cart_id": "c2", "user_id": "u2", "coupon": "TEN"}
    old_bytes = write_v1(old, ctx)
    new_bytes = write_v2(new, ctx)
    assert old_bytes is not None
    assert new_bytes is not None
    assert old_bytes[0] == 0  # Confluent's wire format: magic byte, then the id
    assert read(old_bytes, ctx) == old
    assert read(new_bytes, ctx) == new
    assert client.get_versions(SUBJECT) == [1, 2]
