"""Untyped events (data is a plain dict) and the JSON form of events.

The JSON form is what ``POST /e/{key}`` takes and what the SDK's HTTP
transport sends: one object ``{"name", "data", "user"?, "id"?, "ts"?, "v"?}``
or an array of them. :func:`parse_events` checks it and names the offending
field of the offending event (``[3].data``), so the gateway and the SDK give
the same errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from weir.errors import EventInvalidError
from weir.events.checks import check_id, check_ts, check_user, check_version, now_ms
from weir.events.ids import new_event_id
from weir.events.jsonable import to_jsonable
from weir.events.names import check_event_name

JSON_KEYS = frozenset({"name", "data", "user", "id", "ts", "v"})


@dataclass(slots=True)
class RawEvent:
    """An event whose data is a plain dict, checked only against its envelope so far.

    Build one with :meth:`create` (which checks and fills in id and ts), not the
    constructor.
    """

    name: str
    data: dict[str, Any]
    id: str
    ts: int
    user: dict[str, Any] | None = None
    v: str | None = None

    @classmethod
    def create(
        cls,
        name: str,
        data: Mapping[str, Any] | None = None,
        *,
        user: Mapping[str, Any] | None = None,
        id: str | None = None,
        ts: int | datetime | None = None,
        v: str | None = None,
        path: str = "",
    ) -> RawEvent:
        """A checked event; ``path`` prefixes error paths (``[3].`` for the fourth of a list)."""
        check_event_name(name, path=f"{path}name")
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise EventInvalidError(
                f"{path}data: event data is an object, not {type(data).__name__}",
                path=f"{path}data",
            )
        return cls(
            name=name,
            data=dict(data),
            id=new_event_id() if id is None else check_id(id, f"{path}id"),
            ts=now_ms() if ts is None else check_ts(ts, f"{path}ts"),
            user=check_user(user, f"{path}user"),
            v=check_version(v, f"{path}v"),
        )

    @classmethod
    def from_json(cls, value: Any, *, path: str = "") -> RawEvent:
        """An event from its JSON object form; unknown keys are an error."""
        if not isinstance(value, Mapping):
            where = path.rstrip(".") or "body"
            raise EventInvalidError(
                f"{where}: an event is a JSON object, not {type(value).__name__}", path=where
            )
        unknown = sorted(set(value) - JSON_KEYS)
        if unknown:
            raise EventInvalidError(
                f"{path}{unknown[0]}: not a field of an event (name, data, user, id, ts, v)",
                path=f"{path}{unknown[0]}",
            )
        if "name" not in value:
            raise EventInvalidError(f"{path}name: is required", path=f"{path}name")
        return cls.create(
            value["name"],
            value.get("data"),
            user=value.get("user"),
            id=value.get("id"),
            ts=value.get("ts"),
            v=value.get("v"),
            path=path,
        )

    def to_record(self) -> dict[str, Any]:
        """The whole event as a dict (the Avro datum shape, before its data is checked)."""
        return {
            "name": self.name,
            "data": self.data,
            "id": self.id,
            "ts": self.ts,
            "user": self.user,
            "v": self.v,
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON object form (bytes as base64, decimals as strings, times as ISO 8601)."""
        out: dict[str, Any] = {"name": self.name, "data": to_jsonable(self.data), "id": self.id}
        out["ts"] = self.ts
        if self.user is not None:
            out["user"] = self.user
        if self.v is not None:
            out["v"] = self.v
        return out


def parse_events(body: Any, *, max_events: int | None = None) -> list[RawEvent]:
    """The events of a JSON body: one event object, or an array of them (paths ``[i].``)."""
    if isinstance(body, list):
        if not body:
            raise EventInvalidError("body: an empty array holds no event", path="body")
        if max_events is not None and len(body) > max_events:
            raise EventInvalidError(
                f"body: {len(body)} events, at most {max_events} per request", path="body"
            )
        return [RawEvent.from_json(item, path=f"[{i}].") for i, item in enumerate(body)]
    return [RawEvent.from_json(body)]
