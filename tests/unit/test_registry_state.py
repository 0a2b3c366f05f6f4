"""The log's records and the rules that rebuild state from them, in topic order."""

from __future__ import annotations

import pytest

from services.registry.records import (
    ClaimKey,
    ClaimValue,
    ConfigKey,
    ConfigValue,
    DeleteSubjectKey,
    DeleteSubjectValue,
    IdFloorKey,
    IdFloorValue,
    Key,
    ModeKey,
    ModeValue,
    NoopKey,
    Reference,
    SchemaKey,
    SchemaValue,
    Value,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from services.registry.schemas import fingerprint
from services.registry.state import CLAIM_TTL_MS, RegistryState

A = '{"type":"record","name":"A","fields":[]}'
B = '{"type":"record","name":"B","fields":[]}'


def fp(text: str) -> str:
    return fingerprint("AVRO", text, ())


def schema(subject: str, version: int, schema_id: int, text: str, **kw: bool) -> SchemaValue:
    return SchemaValue(subject, version, schema_id, text, **kw)


def apply(state: RegistryState, *records: tuple[Key, Value | None], at: int = 0) -> None:
    for key, value in records:
        state.apply(key, value, at)


def test_keys_use_confluents_layout_byte_for_byte() -> None:
    assert encode_key(SchemaKey("shop/cart.added", 3)) == (
        b'{"keytype":"SCHEMA","subject":"shop/cart.added","version":3,"magic":1}'
    )
    assert encode_key(ConfigKey(None)) == b'{"keytype":"CONFIG","subject":null,"magic":0}'
    assert encode_key(ModeKey("s")) == b'{"keytype":"MODE","subject":"s","magic":0}'
    assert encode_key(DeleteSubjectKey("s")) == (
        b'{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}'
    )
    value = encode_value(schema("s", 1, 7, A))
    assert (
        value
        == b'{"subject":"s","version":1,"id":7,"schema":"'
        + A.replace('"', '\\"').encode()
        + b'","deleted":false}'
    )
    assert encode_value(ConfigValue("FULL")) == b'{"compatibilityLevel":"FULL"}'


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (SchemaKey("s", 1), schema("s", 1, 2, A, deleted=True)),
        (
            SchemaKey("s", 2),
            SchemaValue("s", 2, 3, B, references=(Reference("A", "a", 1),), schema_type="AVRO"),
        ),
        (SchemaKey("s", 3), None),
        (ConfigKey("s"), ConfigValue("NONE")),
        (ModeKey(None), ModeValue("READONLY")),
        (DeleteSubjectKey("s"), DeleteSubjectValue("s", 4)),
        (ClaimKey("t1"), ClaimValue("s", 1, 5, "f")),
        (IdFloorKey(), IdFloorValue(9)),
        (NoopKey(), None),
    ],
)
def test_records_round_trip(key: Key, value: Value | None) -> None:
    decoded = decode_key(encode_key(key))
    assert decoded == key
    assert decode_value(decoded, encode_value(value)) == value


def test_foreign_key_types_are_skipped() -> None:
    assert decode_key(b'{"keytype":"CONTEXT","magic":0}') is None
    assert decode_key(None) is None


def test_the_first_claim_for_an_id_wins_and_the_same_schema_shares_it() -> None:
    state = RegistryState()
    apply(
        state,
        (ClaimKey("p1"), ClaimValue("s1", 1, 1, fp(A))),
        (ClaimKey("p2"), ClaimValue("s2", 1, 1, fp(B))),  # same id, other schema: loses
        (ClaimKey("p3"), ClaimValue("s3", 1, 1, fp(A))),  # same id, same schema: shares
        (ClaimKey("p4"), ClaimValue("s4", 1, 2, fp(A))),  # same schema, other id: loses
    )
    assert set(state.reservations) == {"p1", "p3"}
    assert state.id_for_fingerprint(fp(A)) == 1
    assert state.next_id() == 2


def test_the_first_claim_for_a_subject_version_wins() -> None:
    state = RegistryState()
    apply(
        state,
        (ClaimKey("p1"), ClaimValue("s", 1, 1, fp(A))),
        (ClaimKey("p2"), ClaimValue("s", 1, 2, fp(B))),
    )
    assert set(state.reservations) == {"p1"}
    assert state.pending_on("s", now_ms=0)
    # The winner's schema record releases the claim; a later claim on the version loses.
    apply(state, (SchemaKey("s", 1), schema("s", 1, 1, A)), (ClaimKey("p1"), None))
    assert state.reservations == {}
    apply(state, (ClaimKey("p3"), ClaimValue("s", 1, 2, fp(B))))
    assert state.reservations == {}
    assert not state.pending_on("s", now_ms=0)


def test_a_claim_never_landed_lapses_by_record_time() -> None:
    state = RegistryState()
    state.apply(ClaimKey("dead"), ClaimValue("s", 1, 1, fp(A)), 1_000)
    assert state.pending_on("s", now_ms=1_000 + CLAIM_TTL_MS - 1)
    assert not state.pending_on("s", now_ms=1_000 + CLAIM_TTL_MS)
    state.apply(ClaimKey("early"), ClaimValue("s", 1, 2, fp(B)), 1_000 + CLAIM_TTL_MS - 1)
    assert "early" not in state.reservations
    state.apply(ClaimKey("late"), ClaimValue("s", 1, 2, fp(B)), 1_000 + CLAIM_TTL_MS)
    assert set(state.reservations) == {"late"}


def test_a_released_claim_gives_its_unused_id_back() -> None:
    state = RegistryState()
    apply(state, (ClaimKey("p1"), ClaimValue("s", 1, 1, fp(A))))
    assert state.next_id() == 2
    apply(state, (ClaimKey("p1"), None))
    assert state.next_id() == 1


def test_a_conflicting_schema_record_is_ignored() -> None:
    state = RegistryState()
    apply(
        state,
        (SchemaKey("s", 1), schema("s", 1, 1, A)),
        (SchemaKey("t", 1), schema("t", 1, 1, B)),  # id 1 is A's
        (SchemaKey("s", 1), schema("s", 1, 2, B)),  # s v1 is id 1
    )
    assert state.conflicts == 2
    assert set(state.subjects) == {"s"}
    assert state.schemas[1].schema == A


def test_deletes_soft_and_permanent() -> None:
    state = RegistryState()
    apply(
        state,
        (SchemaKey("s", 1), schema("s", 1, 1, A)),
        (SchemaKey("s", 2), schema("s", 2, 2, B)),
        (SchemaKey("t", 1), schema("t", 1, 2, B)),
        (DeleteSubjectKey("s"), DeleteSubjectValue("s", 2)),
    )
    assert [e.version for e in state.versions("s", deleted=False)] == []
    assert [e.version for e in state.versions("s", deleted=True)] == [1, 2]
    apply(
        state, (IdFloorKey(), IdFloorValue(2)), (SchemaKey("s", 1), None), (SchemaKey("s", 2), None)
    )
    assert "s" not in state.subjects
    assert 1 not in state.schemas  # nothing uses id 1 any more
    assert 2 in state.schemas  # t still uses id 2
    assert state.next_id() == 3  # and id 1 is never handed out again
    fresh = RegistryState()
    apply(fresh, (IdFloorKey(), IdFloorValue(2)))  # what a compacted log keeps
    assert fresh.next_id() == 3


def test_configs_and_modes_follow_their_last_record() -> None:
    state = RegistryState()
    apply(
        state,
        (ConfigKey(None), ConfigValue("FULL")),
        (ConfigKey("s"), ConfigValue("NONE")),
        (ModeKey("s"), ModeValue("READONLY")),
        (ConfigKey("s"), None),
    )
    assert state.configs == {None: "FULL"}
    assert state.modes == {"s": "READONLY"}


def test_referenced_by_counts_live_versions_only() -> None:
    state = RegistryState()
    ref = (Reference("A", "a", 1),)
    apply(
        state,
        (SchemaKey("a", 1), schema("a", 1, 1, A)),
        (SchemaKey("b", 1), SchemaValue("b", 1, 2, B, references=ref)),
    )
    assert state.referenced_by("a", 1) == [2]
    apply(state, (SchemaKey("b", 1), SchemaValue("b", 1, 2, B, deleted=True, references=ref)))
    assert state.referenced_by("a", 1) == []
