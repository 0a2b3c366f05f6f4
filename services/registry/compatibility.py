"""Compatibility levels on top of Apache Avro's reader/writer compatibility check.

Whether one schema can read what another wrote is decided by
``avro.compatibility.ReaderWriterCompatibilityChecker``; this module only
decides which pairs to check:

- BACKWARD: the new schema reads data written with the previous schema.
- FORWARD: the previous schema reads data written with the new one.
- FULL: both.
- ``*_TRANSITIVE``: against every earlier live version, not only the latest.
- NONE: nothing is checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import avro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
)

from services.registry import errors


class Level(StrEnum):
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def transitive(self) -> bool:
        return self.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.startswith(("FORWARD", "FULL"))


DEFAULT_LEVEL = Level.BACKWARD


def parse_level(value: object) -> Level:
    """The level named by ``value`` (any case); 42203 for anything else."""
    if isinstance(value, str):
        try:
            return Level(value.upper())
        except ValueError:
            pass
    raise errors.invalid_compatibility_level(value, [level.value for level in Level])


@dataclass(frozen=True)
class Previous:
    """An earlier live version of the subject."""

    version: int
    schema: avro.schema.Schema


def check(level: Level, new: avro.schema.Schema, previous: Sequence[Previous]) -> list[str]:
    """Why ``new`` breaks ``level`` against ``previous`` (oldest first); empty when it doesn't."""
    if level is Level.NONE:
        return []
    against = list(previous) if level.transitive else list(previous[-1:])
    messages: list[str] = []
    for old in reversed(against):
        if level.backward:
            result = _checker().get_compatibility(new, old.schema)
            if result.compatibility is SchemaCompatibilityType.incompatible:
                messages.append(
                    f"{level}: the new schema (reader) cannot read data written with version "
                    f"{old.version} (writer): {_explain(result)}"
                )
        if level.forward:
            result = _checker().get_compatibility(old.schema, new)
            if result.compatibility is SchemaCompatibilityType.incompatible:
                messages.append(
                    f"{level}: version {old.version} (reader) cannot read data written with the "
                    f"new schema (writer): {_explain(result)}"
                )
    return messages


def _checker() -> ReaderWriterCompatibilityChecker:
    """A fresh checker: it memoizes pairs by object identity, so one per check."""
    return ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]


def _explain(result: SchemaCompatibilityResult) -> str:
    """Name what is incompatible and where (Avro's result lists kinds, places and details)."""
    kinds = list(dict.fromkeys(kind.name.upper() for kind in result.incompatibilities))
    # Avro's merge also unions in the root "/" of every compatible part; drop it.
    places = ", ".join(sorted(loc for loc in result.locations if loc != "/") or ["/"])
    details = sorted(result.messages)
    if len(result.incompatibilities) != 1 or len(details) != 1:
        return f"{', '.join(kinds)} at {places}: {'; '.join(details)}"
    kind, detail = result.incompatibilities[0], details[0]
    if kind is SchemaIncompatibilityType.reader_field_missing_default_value:
        detail = f"field '{detail}' has no default value and is missing from the writer's schema"
    elif kind is SchemaIncompatibilityType.missing_enum_symbols:
        detail = f"the reader's enum lacks the writer's symbols {detail}"
    return f"{kinds[0]} at {places}: {detail}"
