"""What the registry does: Confluent's semantics over the state and the log.

Reads come from memory. A read that finds nothing first catches up with the
log once and looks again, so an id registered through another registry
process a moment ago is found. Every write happens under one lock per
process, after catching up with the log, and is confirmed only once the
reader has applied it (see :mod:`services.registry.store`).

Registering a new subject version is a two-step claim (docs/registry.md):
a ``WEIR_CLAIM`` record asks for an id and a version; once applied, every
registry process agrees whether it won (first in the topic wins). The winner
writes the schema record; a loser retries with fresh numbers.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from services.registry import errors
from services.registry.compatibility import DEFAULT_LEVEL, Level, Previous, check, parse_level
from services.registry.records import (
    AVRO,
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
from services.registry.schemas import Dependency, ParsedSchema, parse
from services.registry.state import CLAIM_TTL_MS, RegistryState, StoredSchema, VersionEntry
from services.registry.store import KafkaLog
from weir.errors import RegistryError, RegistryNotFoundError

T = TypeVar("T")

READWRITE, READONLY, IMPORT = "READWRITE", "READONLY", "IMPORT"
MODES = [READWRITE, READONLY, IMPORT]
LATEST = -1


@dataclass(frozen=True)
class SchemaRequest:
    """The body of a register, lookup or compatibility request."""

    schema: str
    schema_type: str = AVRO
    references: tuple[Reference, ...] = ()
    schema_id: int | None = None
    version: int | None = None


@dataclass(frozen=True)
class Claim:
    """The numbers a registration will claim: a subject version and a schema id."""

    subject: str
    version: int
    schema_id: int
    parsed: ParsedSchema


@dataclass(frozen=True)
class Found:
    """The schema is already registered under the subject."""

    schema_id: int
    version: int


def parse_version(text: str) -> int:
    """A version id from a path: 1..2^31-1, or "latest" / -1 (LATEST); 42202 otherwise."""
    if text == "latest":
        return LATEST
    try:
        number = int(text)
    except ValueError:
        raise errors.invalid_version(text) from None
    if number == LATEST or 1 <= number <= errors.MAX_VERSION:
        return number
    raise errors.invalid_version(text)


def schema_body(stored: StoredSchema) -> dict[str, Any]:
    """The schema part of a response; like Confluent, AVRO and no references go unsaid."""
    body: dict[str, Any] = {"schema": stored.schema}
    if stored.schema_type != AVRO:
        body["schemaType"] = stored.schema_type
    if stored.references:
        body["references"] = [ref.to_json() for ref in stored.references]
    return body


class SchemaRegistry:
    def __init__(self, log: KafkaLog, state: RegistryState, *, timeout: float) -> None:
        self.log = log
        self.state = state
        self.timeout = timeout
        self._write_lock = threading.Lock()
        self._parsed: dict[int, ParsedSchema] = {}

    # -- helpers --------------------------------------------------------------------

    def _read(self, query: Callable[[], T]) -> T:
        try:
            with self.state.lock:
                return query()
        except RegistryNotFoundError:
            self.log.sync()
            with self.state.lock:
                return query()

    def _write(self, records: list[tuple[Key, Value | None]]) -> None:
        self.log.write(records)

    def _resolve(self, ref: Reference) -> Dependency | None:
        with self.state.lock:
            entry = self.state.subjects.get(ref.subject, {}).get(ref.version)
            stored = self.state.schemas.get(entry.schema_id) if entry else None
        return Dependency(stored.schema, stored.references) if stored else None

    def _parse(self, request: SchemaRequest) -> ParsedSchema:
        return parse(request.schema, request.schema_type, request.references, self._resolve)

    def _parsed_stored(self, schema_id: int) -> ParsedSchema:
        cached = self._parsed.get(schema_id)
        if cached is None:
            stored = self.state.schemas[schema_id]
            cached = parse(stored.schema, stored.schema_type, stored.references, self._resolve)
            self._parsed[schema_id] = cached
        return cached

    def _live_versions(self, subject: str, *, deleted: bool = False) -> list[VersionEntry]:
        found = self.state.versions(subject, deleted=deleted)
        if not found:
            raise errors.subject_not_found(subject)
        return found

    def _entry(self, subject: str, version: int, *, deleted: bool) -> VersionEntry:
        candidates = self._live_versions(subject, deleted=deleted)
        if version == LATEST:
            return candidates[-1]
        entry = self.state.subjects[subject].get(version)
        if entry is None or (entry.deleted and not deleted):
            raise errors.version_not_found(subject, version)
        return entry

    def _mode(self, subject: str | None) -> str:
        return self.state.modes.get(subject) or self.state.modes.get(None) or READWRITE

    def _level(self, subject: str) -> Level:
        level = self.state.configs.get(subject) or self.state.configs.get(None)
        return Level(level) if level and level in Level.__members__ else DEFAULT_LEVEL

    def _incompatibilities(
        self, parsed: ParsedSchema, against: list[VersionEntry], level: Level
    ) -> list[str]:
        previous = [Previous(e.version, self._parsed_stored(e.schema_id).avro) for e in against]
        return check(level, parsed.avro, previous)

    def version_body(self, entry: VersionEntry) -> dict[str, Any]:
        stored = self.state.schemas[entry.schema_id]
        return {
            "subject": entry.subject,
            "version": entry.version,
            "id": entry.schema_id,
            **schema_body(stored),
        }

    # -- schemas by id ----------------------------------------------------------------

    def schema_by_id(self, schema_id: int) -> StoredSchema:
        # Confluent's ?subject= only picks a schema context; with the one default
        # context there is nothing to pick, and deserializers send any subject.
        def query() -> StoredSchema:
            stored = self.state.schemas.get(schema_id)
            if stored is None:
                raise errors.schema_not_found(str(schema_id))
            return stored

        return self._read(query)

    def usages_of_id(self, schema_id: int, *, deleted: bool) -> list[VersionEntry]:
        def query() -> list[VersionEntry]:
            if schema_id not in self.state.schemas:
                raise errors.schema_not_found(str(schema_id))
            return [e for e in self.state.usages(schema_id) if deleted or not e.deleted]

        return self._read(query)

    # -- subjects ---------------------------------------------------------------------

    def subjects(self, *, deleted: bool, deleted_only: bool, prefix: str) -> list[str]:
        with self.state.lock:
            found = []
            for subject, versions in self.state.subjects.items():
                live = any(not e.deleted for e in versions.values())
                wanted = not live if deleted_only else (deleted or live)
                if wanted and subject.startswith(prefix):
                    found.append(subject)
        return sorted(found)

    def versions(self, subject: str, *, deleted: bool) -> list[int]:
        return self._read(
            lambda: [e.version for e in self._live_versions(subject, deleted=deleted)]
        )

    def version(self, subject: str, version: int, *, deleted: bool) -> dict[str, Any]:
        return self._read(lambda: self.version_body(self._entry(subject, version, deleted=deleted)))

    def referenced_by(self, subject: str, version: int) -> list[int]:
        def query() -> list[int]:
            entry = self._entry(subject, version, deleted=True)
            return self.state.referenced_by(subject, entry.version)

        return self._read(query)

    def lookup(self, subject: str, request: SchemaRequest, *, deleted: bool) -> dict[str, Any]:
        parsed = self._parse(request)

        def query() -> dict[str, Any]:
            for entry in reversed(self._live_versions(subject, deleted=deleted)):
                if self.state.schemas[entry.schema_id].fingerprint == parsed.fingerprint:
                    return self.version_body(entry)
            raise errors.schema_not_found(f"under subject '{subject}'")

        return self._read(query)

    # -- registering --------------------------------------------------------------------

    def register(self, subject: str, request: SchemaRequest) -> tuple[int, int]:
        """Register (or find) the schema under ``subject``; return (id, version)."""
        parsed = self._parse(request)
        with self.state.lock:
            # Registering what is already there is the common case (every producer
            # start does it): answer from memory, without waiting for other writes.
            if self._mode(subject) == READWRITE and request.schema_id is None:
                for entry in reversed(self.state.versions(subject, deleted=False)):
                    if self.state.schemas[entry.schema_id].fingerprint == parsed.fingerprint:
                        return entry.schema_id, entry.version
        deadline = time.monotonic() + self.timeout
        with self._write_lock:
            while True:
                self.log.sync()
                with self.state.lock:
                    plan = self._plan(subject, request, parsed)
                if isinstance(plan, Found):
                    return plan.schema_id, plan.version
                if plan is not None:
                    done = self._try_claim(plan, explicit=request.schema_id is not None)
                    if done is not None:
                        return done
                if time.monotonic() > deadline:
                    raise errors.store_timeout(
                        f"could not register under '{subject}' within {self.timeout}s: "
                        "other registrations kept winning the race for ids or versions"
                    )
                time.sleep(0.02)

    def _plan(
        self, subject: str, request: SchemaRequest, parsed: ParsedSchema
    ) -> Found | Claim | None:
        """Decide what registering means now: found, claim these numbers, or wait (None)."""
        mode = self._mode(subject)
        if mode == READONLY:
            raise errors.not_permitted(f"Subject {subject} is in read-only mode")
        explicit = request.schema_id is not None or request.version is not None
        if explicit and mode != IMPORT:
            raise errors.not_permitted(
                "A schema id or version can only be given in IMPORT mode; "
                f"subject {subject} is in {mode} mode"
            )
        if mode == IMPORT and request.schema_id is None:
            raise errors.not_permitted(f"Subject {subject} is in IMPORT mode: give the schema id")
        live = self.state.versions(subject, deleted=False)
        for entry in reversed(live):
            stored = self.state.schemas[entry.schema_id]
            if stored.fingerprint == parsed.fingerprint and request.schema_id in (
                None,
                entry.schema_id,
            ):
                return Found(entry.schema_id, entry.version)
        if self.state.pending_on(subject, int(time.time() * 1000)):
            return None  # another registration on this subject is landing; decide after it
        if mode != IMPORT:
            messages = self._incompatibilities(parsed, live, self._level(subject))
            if messages:
                raise errors.incompatible(subject, messages)
        existing_id = self.state.id_for_fingerprint(parsed.fingerprint)
        schema_id = request.schema_id or existing_id or self.state.next_id()
        taken = self.state.schemas.get(schema_id)
        if taken is not None and taken.fingerprint != parsed.fingerprint:
            raise errors.not_permitted(
                f"Overwrite new schema with id {schema_id} is not permitted."
            )
        if existing_id is not None and existing_id != schema_id:
            raise errors.not_permitted(
                f"The schema is already registered with id {existing_id}, not {schema_id}."
            )
        all_versions = self.state.subjects.get(subject, {})
        version = request.version or max(all_versions, default=0) + 1
        if version in all_versions:
            raise errors.not_permitted(
                f"Overwrite new schema with version {version} of subject {subject} "
                "is not permitted."
            )
        return Claim(subject, version, schema_id, parsed)

    def _try_claim(self, plan: Claim, *, explicit: bool) -> tuple[int, int] | None:
        """Claim the plan's numbers, then write the schema; None when the claim lost."""
        token = uuid.uuid4().hex
        claim = ClaimValue(plan.subject, plan.version, plan.schema_id, plan.parsed.fingerprint)
        started = time.monotonic()
        self._write([(ClaimKey(token), claim)])
        with self.state.lock:
            won = token in self.state.reservations
        # A winner that took too long might see its claim lapse under it: start again.
        if not won or time.monotonic() - started > CLAIM_TTL_MS / 2000:
            self._write([(ClaimKey(token), None)])
            if explicit and not won:
                raise errors.not_permitted(
                    f"Schema id {plan.schema_id} or version {plan.version} of subject "
                    f"{plan.subject} was just taken by another registration."
                )
            return None
        value = SchemaValue(
            subject=plan.subject,
            version=plan.version,
            schema_id=plan.schema_id,
            schema=plan.parsed.canonical,
            schema_type=plan.parsed.schema_type,
            references=plan.parsed.references,
        )
        try:
            self._write([(SchemaKey(plan.subject, plan.version), value), (ClaimKey(token), None)])
        except RegistryError:
            # Release the claim now rather than leave the subject waiting for it to lapse.
            with contextlib.suppress(RegistryError):
                self._write([(ClaimKey(token), None)])
            raise
        with self.state.lock:
            entry = self.state.subjects.get(plan.subject, {}).get(plan.version)
        if entry is None or entry.schema_id != plan.schema_id:
            raise errors.store_error(
                f"the schema record for {plan.subject} version {plan.version} did not take"
            )
        return plan.schema_id, plan.version

    # -- deleting -----------------------------------------------------------------------

    def _check_unreferenced(self, subject: str, versions: list[int]) -> None:
        for version in versions:
            if self.state.referenced_by(subject, version):
                raise errors.reference_exists(subject, version)

    def delete_version(self, subject: str, version: int, *, permanent: bool) -> int:
        with self._write_lock:
            self.log.sync()
            with self.state.lock:
                if self._mode(subject) == READONLY:
                    raise errors.not_permitted(f"Subject {subject} is in read-only mode")
                if version == LATEST and not permanent:
                    entry = self._live_versions(subject)[-1]
                else:
                    entry = self._entry(subject, version, deleted=True)
                if not permanent and entry.deleted:
                    raise errors.version_soft_deleted(subject, entry.version)
                if permanent and not entry.deleted:
                    raise errors.version_not_soft_deleted(subject, entry.version)
                self._check_unreferenced(subject, [entry.version])
                stored = self.state.schemas[entry.schema_id]
                floor = IdFloorValue(self.state.max_id)
            key = SchemaKey(subject, entry.version)
            if permanent:
                self._write([(IdFloorKey(), floor), (key, None)])
            else:
                soft = SchemaValue(
                    subject=subject,
                    version=entry.version,
                    schema_id=entry.schema_id,
                    schema=stored.schema,
                    deleted=True,
                    schema_type=stored.schema_type,
                    references=stored.references,
                )
                self._write([(key, soft)])
            return entry.version

    def delete_subject(self, subject: str, *, permanent: bool) -> list[int]:
        with self._write_lock:
            self.log.sync()
            with self.state.lock:
                if self._mode(subject) == READONLY:
                    raise errors.not_permitted(f"Subject {subject} is in read-only mode")
                every = self.state.versions(subject, deleted=True)
                if not every:
                    raise errors.subject_not_found(subject)
                live = [e.version for e in every if not e.deleted]
                if not permanent and not live:
                    raise errors.subject_soft_deleted(subject)
                if permanent and live:
                    raise errors.subject_not_soft_deleted(subject)
                self._check_unreferenced(subject, live or [e.version for e in every])
                has_config = subject in self.state.configs
                has_mode = subject in self.state.modes
                floor = IdFloorValue(self.state.max_id)
            records: list[tuple[Key, Value | None]]
            if permanent:
                records = [(IdFloorKey(), floor)]
                records += [(SchemaKey(subject, e.version), None) for e in every]
                records.append((DeleteSubjectKey(subject), None))
                self._write(records)
                return [e.version for e in every]
            # Like Confluent, a soft delete also drops the subject's own config and mode.
            records = [(DeleteSubjectKey(subject), DeleteSubjectValue(subject, max(live)))]
            if has_config:
                records.append((ConfigKey(subject), None))
            if has_mode:
                records.append((ModeKey(subject), None))
            self._write(records)
            return live

    # -- compatibility ---------------------------------------------------------------------

    def test_compatibility(
        self, subject: str, version: int | None, request: SchemaRequest
    ) -> list[str]:
        """Why ``request`` would break ``subject``: against one version, or as registering would."""
        parsed = self._parse(request)

        def query() -> list[str]:
            level = self._level(subject)
            if version is None:
                against = self.state.versions(subject, deleted=False)
            elif version == LATEST:
                against = self.state.versions(subject, deleted=False)[-1:]
            else:
                against = [self._entry(subject, version, deleted=False)]
            if version is not None:
                # Against one chosen version, transitivity has nothing to add.
                level = Level(level.removesuffix("_TRANSITIVE"))
            return self._incompatibilities(parsed, against, level)

        return self._read(query)

    def get_config(self, subject: str | None, *, default_to_global: bool) -> str:
        def query() -> str:
            level = self.state.configs.get(subject)
            if level is None and subject is not None and not default_to_global:
                raise errors.subject_config_not_found(subject)
            return level or self.state.configs.get(None) or DEFAULT_LEVEL.value

        return self._read(query)

    def set_config(self, subject: str | None, level: object) -> str:
        chosen = parse_level(level)
        with self._write_lock:
            self._write([(ConfigKey(subject), ConfigValue(chosen.value))])
        return chosen.value

    def delete_config(self, subject: str | None) -> str:
        with self._write_lock:
            self.log.sync()
            with self.state.lock:
                previous = self.state.configs.get(subject)
            if previous is None and subject is not None:
                raise errors.subject_config_not_found(subject)
            self._write([(ConfigKey(subject), None)])
        return previous or DEFAULT_LEVEL.value

    # -- modes ----------------------------------------------------------------------------

    def get_mode(self, subject: str | None, *, default_to_global: bool) -> str:
        def query() -> str:
            mode = self.state.modes.get(subject)
            if mode is None and subject is not None and not default_to_global:
                raise errors.subject_mode_not_found(subject)
            return mode or self.state.modes.get(None) or READWRITE

        return self._read(query)

    def set_mode(self, subject: str | None, mode: object, *, force: bool) -> str:
        chosen = mode.upper() if isinstance(mode, str) else None
        if chosen not in MODES:
            raise errors.invalid_mode(mode, MODES)
        with self._write_lock:
            self.log.sync()
            with self.state.lock:
                if subject is None:
                    in_use = any(self.state.versions(s, deleted=False) for s in self.state.subjects)
                else:
                    in_use = bool(self.state.versions(subject, deleted=False))
            if chosen == IMPORT and in_use and not force:
                where = "subjects" if subject is None else f"schemas under subject {subject}"
                raise errors.not_permitted(
                    f"Cannot import since found existing {where}; use force=true to import anyway"
                )
            self._write([(ModeKey(subject), ModeValue(chosen))])
        return chosen

    def delete_mode(self, subject: str) -> str:
        with self._write_lock:
            self.log.sync()
            with self.state.lock:
                previous = self.state.modes.get(subject)
            if previous is None:
                raise errors.subject_mode_not_found(subject)
            self._write([(ModeKey(subject), None)])
        return previous
