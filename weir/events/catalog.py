"""Event name -> its writer schema: cached, registered on demand, policy applied.

The :class:`SchemaCatalog` is what the SDK's transports and the gateway ask,
once per event, "which schema do I write this with?":

* :meth:`SchemaCatalog.for_data` - untyped data (a dict). The latest schema of
  the event's subject checks the data (errors name field paths). With no schema
  yet, ``strict`` refuses (``event_schema_unknown``) and ``infer`` infers one
  and registers it; data that an inferred schema does not hold evolves it
  compatibly or is refused (``schema_incompatible``). Schemas made from a typed
  class are never changed here: data that does not fit is ``event_invalid``.
* :meth:`SchemaCatalog.for_model` - a typed ``Event`` class: its own schema,
  registered (the registry answers with the existing id when nothing changed).
* :meth:`SchemaCatalog.writer` - the schema of an id, for decoding.

Everything is cached in memory; a cached call does no I/O and no awaiting on
anything slow, so it is cheap enough for every gateway request. Registry
calls are async (httpx). Entries do not go stale in a harmful way: an older
version is still a valid writer schema, and a payload that does not fit the
cached one refreshes it before anything is refused or evolved.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from weir.errors import ConfigError, EventSchemaUnknownError, SchemaIncompatibleError
from weir.events import codec
from weir.events.envelope import data_record_of, envelope_schema, is_inferred
from weir.events.infer import evolve_data_record, infer_data_record
from weir.events.names import subject_for
from weir.events.registry import SchemaRegistry
from weir.events.validate import Check, FieldError, compile_checker, full_name, invalid

if TYPE_CHECKING:
    from weir.events.model import Event

_ATTEMPTS = 3  # registering races with other writers: re-read and retry this often


class SchemaPolicy(StrEnum):
    """What an event name without a registered schema gets (setting ``schema_policy``)."""

    STRICT = "strict"
    INFER = "infer"

    @classmethod
    def parse(cls, value: str | SchemaPolicy) -> SchemaPolicy:
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(
                f"schema_policy is 'strict' or 'infer', not {value!r}",
                detail={"setting": "schema_policy"},
            ) from None


@dataclass(frozen=True, eq=False)
class CatalogEntry:
    """One registered event schema, parsed and ready to write with."""

    event_name: str
    subject: str
    schema_id: int
    schema: dict[str, Any]  # the whole event's schema (JSON form)
    parsed: codec.ParsedSchema  # the whole event's, for decoding
    data_parsed: codec.ParsedSchema  # the data record's, for encoding
    prefix: bytes  # what every value starts with: magic byte, schema id, encoded name
    inferred: bool  # may the catalog evolve it?
    check_data: Check  # value -> datum of the data record, collecting FieldErrors
    to_datum: Callable[[Any], dict[str, Any]] | None = None  # typed classes: model -> datum

    def data_datum(self, data: Any) -> tuple[Any, list[FieldError]]:
        errors: list[FieldError] = []
        datum = self.check_data(data, "data", errors)
        return datum, errors


class SchemaCatalog:
    def __init__(
        self,
        registry: SchemaRegistry,
        *,
        policy: str | SchemaPolicy = SchemaPolicy.INFER,
        subject_prefix: str = "",
        unknown_ttl: float = 2.0,
    ) -> None:
        self.registry = registry
        self.policy = SchemaPolicy.parse(policy)
        self.subject_prefix = subject_prefix
        self.unknown_ttl = unknown_ttl  # how long "no schema" is believed (strict policy)
        self._latest: dict[str, CatalogEntry] = {}
        self._unknown: dict[str, float] = {}
        self._models: dict[type[Event], CatalogEntry] = {}
        self._by_id: dict[int, codec.ParsedSchema] = {}

    def subject(self, event_name: str) -> str:
        return subject_for(event_name, self.subject_prefix)

    # -- lookups ---------------------------------------------------------------

    async def latest(self, event_name: str, *, refresh: bool = False) -> CatalogEntry | None:
        """The newest schema of ``event_name`` (cached); None when none is registered."""
        if not refresh:
            entry = self._latest.get(event_name)
            if entry is not None:
                return entry
            if self._unknown.get(event_name, 0.0) > time.monotonic():
                return None
        subject = self.subject(event_name)
        found = await self.registry.latest(subject)
        if found is None:
            self._unknown[event_name] = time.monotonic() + self.unknown_ttl
            self._latest.pop(event_name, None)
            return None
        schema = json.loads(found.schema)
        entry = self._entry(event_name, found.id, schema)
        self._latest[event_name] = entry
        self._unknown.pop(event_name, None)
        return entry

    async def writer(self, schema_id: int) -> codec.ParsedSchema:
        """The parsed schema of ``schema_id`` (cached), for decoding."""
        parsed = self._by_id.get(schema_id)
        if parsed is None:
            parsed = codec.parse(json.loads(await self.registry.schema_by_id(schema_id)))
            self._by_id[schema_id] = parsed
        return parsed

    # -- typed events ------------------------------------------------------------

    def cached_model(self, cls: type[Event]) -> CatalogEntry | None:
        return self._models.get(cls)

    async def for_model(self, cls: type[Event]) -> CatalogEntry:
        """The registered schema of a typed event class (registered on first use)."""
        entry = self._models.get(cls)
        if entry is None:
            schema = cls.avro_schema()
            entry = await self.register(cls.name, schema, latest=False)
            entry = replace(entry, to_datum=cls.avro().to_datum)
            self._models[cls] = entry
        return entry

    # -- untyped events ------------------------------------------------------------

    async def for_data(self, event_name: str, data: Mapping[str, Any]) -> tuple[CatalogEntry, Any]:
        """(entry to write with, datum of ``data``) under the schema policy; see module doc."""
        entry = self._latest.get(event_name) or await self.latest(event_name)
        for _ in range(_ATTEMPTS):
            if entry is None:
                if self.policy is SchemaPolicy.STRICT:
                    raise EventSchemaUnknownError(
                        f"no schema is registered for event {event_name!r} (subject "
                        f"{self.subject(event_name)!r}) and schema_policy is strict",
                        detail={"path": "name", "event": event_name},
                    )
                record = infer_data_record(event_name, data)
                entry = await self._register_or_reload(event_name, record)
                continue
            datum, errors = entry.data_datum(data)
            if not errors:
                return entry, datum
            if not (self.policy is SchemaPolicy.INFER and entry.inferred):
                raise invalid(errors, prefix=f"{event_name}: ")
            fresh = await self.latest(event_name, refresh=True)
            if fresh is not None and fresh.schema_id != entry.schema_id:
                entry = fresh  # someone else evolved it already: try that one first
                continue
            if fresh is None:
                entry = None
                continue
            current = data_record_of(fresh.schema, subject=fresh.subject)
            evolved = evolve_data_record(current, data)
            if evolved is None:
                raise invalid(errors, prefix=f"{event_name}: ")  # the schema is fine, values not
            entry = await self._register_or_reload(event_name, evolved)
        raise SchemaIncompatibleError(
            f"the schema of {event_name!r} kept changing while this event was checked; retry",
            error_code=409,
            detail={"path": "data", "event": event_name},
        )

    async def _register_or_reload(
        self, event_name: str, record: dict[str, Any]
    ) -> CatalogEntry | None:
        """Register an inferred schema; on a conflict with a concurrent writer, the latest."""
        schema = envelope_schema(event_name, record, inferred=True)
        try:
            return await self.register(event_name, schema)
        except SchemaIncompatibleError:
            return await self.latest(event_name, refresh=True)

    # -- registration -------------------------------------------------------------

    async def register(
        self, event_name: str, schema: dict[str, Any], *, latest: bool = True
    ) -> CatalogEntry:
        """Register ``schema`` (a whole event's) under the subject of ``event_name``.

        ``latest``: it becomes the name's cached latest schema (for untyped data).
        """
        subject = self.subject(event_name)
        data_record_of(schema, subject=subject)  # refuse non-event schemas before the registry
        schema_id = await self.registry.register(subject, json.dumps(schema, separators=(",", ":")))
        entry = self._entry(event_name, schema_id, schema)
        if latest:
            self._latest[event_name] = entry
            self._unknown.pop(event_name, None)
        return entry

    def _entry(self, event_name: str, schema_id: int, schema: dict[str, Any]) -> CatalogEntry:
        subject = self.subject(event_name)
        data = data_record_of(schema, subject=subject)
        parsed = codec.parse(schema)
        self._by_id.setdefault(schema_id, parsed)
        _, namespace = full_name(schema, None)  # the data record's names nest in the envelope's
        # Parsed alone, the data record keeps the full names it has inside the envelope.
        data_parsed = codec.parse({**data, "name": full_name(data, namespace)[0]})
        return CatalogEntry(
            event_name=event_name,
            subject=subject,
            schema_id=schema_id,
            schema=schema,
            parsed=parsed,
            data_parsed=data_parsed,
            prefix=codec.event_prefix(schema_id, event_name),
            inferred=is_inferred(schema),
            check_data=compile_checker(data, namespace=namespace),
        )
