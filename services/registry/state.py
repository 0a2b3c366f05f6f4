"""The registry's state in memory, rebuilt by applying the log's records in order.

Every registry process applies the same records in the same (topic) order
with the same rules, so every process reaches the same state. That is what
makes two processes agree on ids: when two registrations race for an id or a
subject version, the claim that comes first in the topic wins everywhere (see
:meth:`RegistryState._claim` and docs/registry.md).

Nothing here talks to Kafka; the reader thread of :mod:`services.registry.store`
calls :meth:`RegistryState.apply` under :attr:`RegistryState.lock`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

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
    Reference,
    SchemaKey,
    SchemaValue,
    Value,
)
from services.registry.schemas import fingerprint

log = logging.getLogger(__name__)

# A won claim holds its id and subject version this long (by record timestamps,
# which every reader sees alike) unless its schema record or tombstone comes first.
CLAIM_TTL_MS = 30_000


@dataclass(frozen=True)
class StoredSchema:
    schema_id: int
    schema_type: str
    schema: str
    references: tuple[Reference, ...]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.schema_type, self.schema, self.references)


@dataclass(frozen=True)
class VersionEntry:
    subject: str
    version: int
    schema_id: int
    deleted: bool


@dataclass(frozen=True)
class Reservation:
    """A claim that won: its id and subject version are held for its schema record."""

    token: str
    subject: str
    version: int
    schema_id: int
    fingerprint: str
    timestamp_ms: int


class RegistryState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.schemas: dict[int, StoredSchema] = {}
        self.subjects: dict[str, dict[int, VersionEntry]] = {}
        self.configs: dict[str | None, str] = {}
        self.modes: dict[str | None, str] = {}
        self.reservations: dict[str, Reservation] = {}
        self.max_id = 0
        self.conflicts = 0  # records ignored because an earlier record won
        self._fingerprints: dict[str, int] = {}
        self._usages: dict[int, set[tuple[str, int]]] = {}

    # -- applying records ---------------------------------------------------------

    def apply(self, key: Key, value: Value | None, timestamp_ms: int) -> None:
        match key, value:
            case SchemaKey(), SchemaValue():
                self._put_version(key, value)
            case SchemaKey(), None:
                self._remove_version(key.subject, key.version)
            case DeleteSubjectKey(), DeleteSubjectValue():
                self._soft_delete_subject(key.subject, value.version)
            case ConfigKey(), ConfigValue():
                self.configs[key.subject] = value.compatibility
            case ConfigKey(), None:
                self.configs.pop(key.subject, None)
            case ModeKey(), ModeValue():
                self.modes[key.subject] = value.mode
            case ModeKey(), None:
                self.modes.pop(key.subject, None)
            case ClaimKey(), ClaimValue():
                self._claim(key.token, value, timestamp_ms)
            case ClaimKey(), None:
                self.reservations.pop(key.token, None)
            case IdFloorKey(), IdFloorValue():
                self.max_id = max(self.max_id, value.schema_id)
            case _:
                pass  # NOOP, or a tombstone of a key with no state (DELETE_SUBJECT, ID_FLOOR)

    def _put_version(self, key: SchemaKey, value: SchemaValue) -> None:
        fp = fingerprint(value.schema_type, value.schema, value.references)
        known = self.schemas.get(value.schema_id)
        current = self.subjects.get(key.subject, {}).get(key.version)
        if (known and known.fingerprint != fp) or (
            current and current.schema_id != value.schema_id
        ):
            self.conflicts += 1
            log.warning("ignored a schema record that conflicts with an earlier one: %s", key)
            return
        if known is None:
            self.schemas[value.schema_id] = StoredSchema(
                value.schema_id, value.schema_type, value.schema, value.references
            )
            if self._fingerprints.get(fp, value.schema_id + 1) > value.schema_id:
                self._fingerprints[fp] = value.schema_id
        self.subjects.setdefault(key.subject, {})[key.version] = VersionEntry(
            key.subject, key.version, value.schema_id, value.deleted
        )
        self._usages.setdefault(value.schema_id, set()).add((key.subject, key.version))
        self.max_id = max(self.max_id, value.schema_id)
        for token, held in list(self.reservations.items()):
            if (held.subject, held.version) == (key.subject, key.version):
                del self.reservations[token]

    def _remove_version(self, subject: str, version: int) -> None:
        versions = self.subjects.get(subject, {})
        entry = versions.pop(version, None)
        if not versions:
            self.subjects.pop(subject, None)
        if entry is None:
            return
        users = self._usages.get(entry.schema_id, set())
        users.discard((subject, version))
        if not users:
            # No subject version uses the schema any more: its id answers 40403,
            # but max_id keeps the number from being handed out again.
            self._usages.pop(entry.schema_id, None)
            gone = self.schemas.pop(entry.schema_id, None)
            if gone and self._fingerprints.get(gone.fingerprint) == entry.schema_id:
                del self._fingerprints[gone.fingerprint]

    def _soft_delete_subject(self, subject: str, up_to: int) -> None:
        versions = self.subjects.get(subject, {})
        for number, entry in versions.items():
            if number <= up_to:
                versions[number] = replace(entry, deleted=True)

    def _claim(self, token: str, claim: ClaimValue, timestamp_ms: int) -> None:
        """Decide a claim; the first claim in topic order for an id or a version wins."""
        for held_token, held in list(self.reservations.items()):
            if held.timestamp_ms + CLAIM_TTL_MS <= timestamp_ms:
                del self.reservations[held_token]
        known = self.schemas.get(claim.schema_id)
        holder = self.id_for_fingerprint(claim.fingerprint)
        lost = (
            (known is not None and known.fingerprint != claim.fingerprint)
            or (holder is not None and holder != claim.schema_id)
            or claim.version in self.subjects.get(claim.subject, {})
            or any(
                (held.schema_id == claim.schema_id and held.fingerprint != claim.fingerprint)
                or (held.subject, held.version) == (claim.subject, claim.version)
                for held in self.reservations.values()
            )
        )
        if lost:
            return
        self.reservations[token] = Reservation(
            token,
            claim.subject,
            claim.version,
            claim.schema_id,
            claim.fingerprint,
            timestamp_ms,
        )

    # -- queries (call under lock) ------------------------------------------------

    def next_id(self) -> int:
        """The id a new schema would claim: above every id handed out or held by a claim.

        A held id that is released without use (its write failed, or its holder
        died) may be claimed again: nobody was ever told about it.
        """
        held = (r.schema_id for r in self.reservations.values())
        return max(self.max_id, *held, 0) + 1

    def id_for_fingerprint(self, fp: str) -> int | None:
        """The id this schema has, or is about to get through a won claim."""
        found = self._fingerprints.get(fp)
        if found is not None:
            return found
        held = [r.schema_id for r in self.reservations.values() if r.fingerprint == fp]
        return min(held) if held else None

    def pending_on(self, subject: str, now_ms: int) -> bool:
        """Whether a registration has won a claim on ``subject`` that has not landed yet.

        A claim whose holder died lapses after CLAIM_TTL_MS (by the local clock
        here; the log itself drops it when the next claim is applied).
        """
        return any(
            r.subject == subject and r.timestamp_ms + CLAIM_TTL_MS > now_ms
            for r in self.reservations.values()
        )

    def usages(self, schema_id: int) -> list[VersionEntry]:
        """Every subject version using ``schema_id``, by subject then version."""
        found = [self.subjects[s][v] for s, v in self._usages.get(schema_id, set())]
        return sorted(found, key=lambda e: (e.subject, e.version))

    def versions(self, subject: str, *, deleted: bool) -> list[VersionEntry]:
        """The subject's versions in order, soft-deleted ones only when ``deleted``."""
        entries = self.subjects.get(subject, {})
        return [entries[v] for v in sorted(entries) if deleted or not entries[v].deleted]

    def referenced_by(self, subject: str, version: int) -> list[int]:
        """Ids of schemas with a live version whose references name this subject version."""
        return sorted(
            schema_id
            for schema_id, stored in self.schemas.items()
            if any((r.subject, r.version) == (subject, version) for r in stored.references)
            and any(not entry.deleted for entry in self.usages(schema_id))
        )
