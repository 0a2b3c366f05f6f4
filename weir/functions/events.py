"""What functions need from weir.events, in one seam: class names, decoding, encoding.

An event travels between worker and app as its JSON form (``name``, ``data``,
``id``, ``ts``, ``user``, ``v``; weir/events/raw.py). A trigger given as an
Event class decodes it into that class, so ``ctx.event.data`` is typed; a
trigger given only by name gives a :class:`~weir.events.raw.RawEvent`, whose
``data`` is a dict. Other models with that envelope (the failure event) are
decoded with Pydantic.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from weir.errors import EventInvalidError, TriggerInvalidError
from weir.events.jsonable import to_jsonable
from weir.events.model import Event
from weir.events.raw import RawEvent

# Namespace of the ids of events a run sends from a step: derived from run and
# step, so a worker that sends the same step again produces the same ids and
# consumers can drop the duplicate.
_SENT_EVENT_NAMESPACE = uuid.UUID("7f0c2d55-3b1e-4a8e-9c41-5b7d2f6e8a10")


def is_event_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, Event)


def event_name_of(event_type: type[Any]) -> str:
    """The event name an Event class declares (``class X(Event, name="a/b")``)."""
    name = getattr(event_type, "name", None)
    if issubclass(event_type, Event) and event_type.abstract:
        name = None
    if not isinstance(name, str) or not name:
        raise TriggerInvalidError(
            f"{event_type.__qualname__} is not an Event class with a name "
            '(declare it as `class X(Event, name="app/thing.happened")`)'
        )
    return name


def decode_event(payload: Mapping[str, Any], event_type: type[Any] | None) -> Any:
    """The JSON form as ``event_type`` (a RawEvent when None); EventInvalidError if unfit."""
    if event_type is None:
        return RawEvent.from_json(dict(payload))
    if issubclass(event_type, Event):
        return event_type.from_record(payload)
    try:
        return event_type.model_validate(dict(payload))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise EventInvalidError(
            f"event {payload.get('name')!r} does not fit {event_type.__qualname__}: "
            f"{first['msg']} at {where}",
            path=where or "event",
        ) from None


def encode_event(event: object) -> dict[str, Any]:
    """An Event, RawEvent or ``{"name", "data", ...}`` dict as its checked JSON form."""
    if isinstance(event, Event):
        record = event.to_record()
        return {key: value for key, value in to_jsonable(record).items() if value is not None}
    if isinstance(event, RawEvent):
        return event.to_json()
    if isinstance(event, BaseModel):
        return dict(event.model_dump(mode="json", exclude_none=True))
    if isinstance(event, Mapping):
        return RawEvent.from_json(dict(event)).to_json()
    raise EventInvalidError(
        f"cannot send a {type(event).__name__}: send Event instances, RawEvents or dicts "
        "with a name",
        path="events",
    )


def sent_event_id(run_id: str, step_id: str, index: int) -> str:
    """The id of the ``index``-th event a run sends from step ``step_id``."""
    return str(uuid.uuid5(_SENT_EVENT_NAMESPACE, f"{run_id}/{step_id}/{index}"))
