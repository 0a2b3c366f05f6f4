"""A schema registry in memory, for tests (re-exported by ``weir.testing``).

Behaves like a Confluent registry at compatibility BACKWARD (or NONE): the
same schema under a subject keeps its id, equal schemas share an id across
subjects, and an incompatible new version is refused with
``schema_incompatible`` listing each field's reason.
"""

from __future__ import annotations

import json
from typing import Any

from weir.errors import RegistryNotFoundError, SchemaIncompatibleError, SchemaInvalidError
from weir.events import codec
from weir.events.compat import incompatibilities
from weir.events.registry import RegisteredSchema


class InMemoryRegistry:
    def __init__(self, *, compatibility: str = "BACKWARD") -> None:
        if compatibility not in ("BACKWARD", "NONE"):
            raise ValueError("compatibility is BACKWARD or NONE")
        self.compatibility = compatibility
        self._texts: dict[int, str] = {}
        self._ids: dict[str, int] = {}  # normal form -> id
        self._subjects: dict[str, list[int]] = {}
        self.calls = 0  # registry round trips, so tests can see what is cached

    async def register(self, subject: str, schema: str) -> int:
        self.calls += 1
        try:
            parsed = json.loads(schema)
            codec.parse(parsed)
        except Exception as exc:
            raise SchemaInvalidError(
                f"invalid schema: {exc}", error_code=42201, detail={"subject": subject}
            ) from None
        normal = json.dumps(parsed, sort_keys=True, separators=(",", ":"))
        versions = self._subjects.setdefault(subject, [])
        known = self._ids.get(normal)
        if known is not None and known in versions:
            return known
        if versions and self.compatibility == "BACKWARD":
            latest = json.loads(self._texts[versions[-1]])
            problems = incompatibilities(parsed, latest)
            if problems:
                raise SchemaIncompatibleError(
                    f"Schema being registered is incompatible with an earlier schema for "
                    f"subject {subject!r}: {'; '.join(problems)}",
                    error_code=409,
                    detail={"subject": subject, "messages": problems},
                )
        if known is None:
            known = len(self._texts) + 1
            self._texts[known] = normal
            self._ids[normal] = known
        versions.append(known)
        return known

    async def latest(self, subject: str) -> RegisteredSchema | None:
        self.calls += 1
        versions = self._subjects.get(subject)
        if not versions:
            return None
        return RegisteredSchema(subject, versions[-1], len(versions), self._texts[versions[-1]])

    async def schema_by_id(self, schema_id: int) -> str:
        self.calls += 1
        try:
            return self._texts[schema_id]
        except KeyError:
            raise RegistryNotFoundError(f"Schema {schema_id} not found", error_code=40403) from None

    async def aclose(self) -> None:
        return None

    def subjects(self) -> list[str]:
        return sorted(s for s, versions in self._subjects.items() if versions)

    def versions(self, subject: str) -> list[dict[str, Any]]:
        """Every version of ``subject``, oldest first, as schema dicts."""
        return [json.loads(self._texts[i]) for i in self._subjects.get(subject, [])]
