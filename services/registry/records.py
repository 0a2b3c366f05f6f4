"""The registry's Kafka records: Confluent's key/value layout, plus two keys of Weir's own.

Keys are JSON with a fixed field order and no spaces, because compaction
compares keys byte for byte: the same logical key must always encode to the
same bytes. Values are JSON; a ``None`` value is a tombstone.

Confluent's key types: ``SCHEMA`` (one per subject version), ``CONFIG`` and
``MODE`` (subject ``None`` is the global one) and ``DELETE_SUBJECT``. Weir adds
``WEIR_CLAIM`` (a registration's claim on an id and a subject version, see
docs/registry.md) and ``WEIR_ID_FLOOR`` (the highest id ever handed out, so
permanent deletes never let an id be reused). Any other key type is skipped
on replay, so a topic written by another registry still loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

AVRO = "AVRO"


@dataclass(frozen=True)
class Reference:
    """A named type a schema imports from another subject version."""

    name: str
    subject: str
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "subject": self.subject, "version": self.version}


@dataclass(frozen=True)
class SchemaKey:
    subject: str
    version: int


@dataclass(frozen=True)
class ConfigKey:
    subject: str | None


@dataclass(frozen=True)
class ModeKey:
    subject: str | None


@dataclass(frozen=True)
class DeleteSubjectKey:
    subject: str


@dataclass(frozen=True)
class ClaimKey:
    token: str


@dataclass(frozen=True)
class IdFloorKey:
    pass


@dataclass(frozen=True)
class NoopKey:
    """Confluent's NOOP: written (as a tombstone) to read the log up to one's own write."""


Key = SchemaKey | ConfigKey | ModeKey | DeleteSubjectKey | ClaimKey | IdFloorKey | NoopKey


@dataclass(frozen=True)
class SchemaValue:
    subject: str
    version: int
    schema_id: int
    schema: str
    deleted: bool = False
    schema_type: str = AVRO
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True)
class ConfigValue:
    compatibility: str


@dataclass(frozen=True)
class ModeValue:
    mode: str


@dataclass(frozen=True)
class DeleteSubjectValue:
    subject: str
    version: int


@dataclass(frozen=True)
class ClaimValue:
    subject: str
    version: int
    schema_id: int
    fingerprint: str


@dataclass(frozen=True)
class IdFloorValue:
    schema_id: int


Value = SchemaValue | ConfigValue | ModeValue | DeleteSubjectValue | ClaimValue | IdFloorValue


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def encode_key(key: Key) -> bytes:
    match key:
        case SchemaKey(subject, version):
            body: dict[str, Any] = {
                "keytype": "SCHEMA",
                "subject": subject,
                "version": version,
                "magic": 1,
            }
        case ConfigKey(subject):
            body = {"keytype": "CONFIG", "subject": subject, "magic": 0}
        case ModeKey(subject):
            body = {"keytype": "MODE", "subject": subject, "magic": 0}
        case DeleteSubjectKey(subject):
            body = {"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0}
        case ClaimKey(token):
            body = {"keytype": "WEIR_CLAIM", "token": token, "magic": 0}
        case IdFloorKey():
            body = {"keytype": "WEIR_ID_FLOOR", "magic": 0}
        case NoopKey():
            body = {"keytype": "NOOP", "magic": 0}
    return _dump(body)


def encode_value(value: Value | None) -> bytes | None:
    match value:
        case None:
            return None
        case SchemaValue():
            body: dict[str, Any] = {
                "subject": value.subject,
                "version": value.version,
                "id": value.schema_id,
                "schema": value.schema,
                "deleted": value.deleted,
            }
            if value.schema_type != AVRO:
                body["schemaType"] = value.schema_type
            if value.references:
                body["references"] = [ref.to_json() for ref in value.references]
        case ConfigValue(level):
            body = {"compatibilityLevel": level}
        case ModeValue(mode):
            body = {"mode": mode}
        case DeleteSubjectValue(subject, version):
            body = {"subject": subject, "version": version}
        case ClaimValue(subject, version, schema_id, fingerprint):
            body = {
                "subject": subject,
                "version": version,
                "id": schema_id,
                "fingerprint": fingerprint,
            }
        case IdFloorValue(schema_id):
            body = {"id": schema_id}
    return _dump(body)


def decode_key(raw: bytes | None) -> Key | None:
    """The key, or None for a key type this registry does not use (NOOP, ...)."""
    if raw is None:
        return None
    body = json.loads(raw)
    if not isinstance(body, dict):
        return None
    keytype = body.get("keytype")
    subject = body.get("subject")
    if keytype == "SCHEMA":
        return SchemaKey(str(subject), int(body["version"]))
    if keytype == "CONFIG":
        return ConfigKey(None if subject is None else str(subject))
    if keytype == "MODE":
        return ModeKey(None if subject is None else str(subject))
    if keytype == "DELETE_SUBJECT":
        return DeleteSubjectKey(str(subject))
    if keytype == "WEIR_CLAIM":
        return ClaimKey(str(body["token"]))
    if keytype == "WEIR_ID_FLOOR":
        return IdFloorKey()
    if keytype == "NOOP":
        return NoopKey()
    return None


def decode_value(key: Key, raw: bytes | None) -> Value | None:
    """The value for ``key``; None for a tombstone."""
    if raw is None:
        return None
    body = json.loads(raw)
    match key:
        case SchemaKey():
            refs = tuple(
                Reference(str(r["name"]), str(r["subject"]), int(r["version"]))
                for r in body.get("references") or ()
            )
            return SchemaValue(
                subject=str(body["subject"]),
                version=int(body["version"]),
                schema_id=int(body["id"]),
                schema=str(body["schema"]),
                deleted=bool(body.get("deleted", False)),
                schema_type=str(body.get("schemaType") or AVRO),
                references=refs,
            )
        case ConfigKey():
            return ConfigValue(str(body["compatibilityLevel"]))
        case ModeKey():
            return ModeValue(str(body["mode"]))
        case DeleteSubjectKey():
            return DeleteSubjectValue(str(body["subject"]), int(body["version"]))
        case ClaimKey():
            return ClaimValue(
                str(body["subject"]),
                int(body["version"]),
                int(body["id"]),
                str(body["fingerprint"]),
            )
        case IdFloorKey():
            return IdFloorValue(int(body["id"]))
        case NoopKey():
            return None
