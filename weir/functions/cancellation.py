"""``cancel_on``: events that cancel a function's runs, checked when the function is defined.

::

    @weir.function(id="abandoned-cart", trigger=CartAdded,
                   cancel_on=[CancelOn(event=CheckoutCompleted, match="data.cart_id")])

A run is cancelled between steps when an event of that name arrives whose
value at ``match`` equals the run's trigger event's (and, with ``if_``, for
which that CEL expression over ``event``, the trigger, and ``async``, the
incoming event, is true). ``timeout`` bounds how long after the run starts
such an event still counts. The router carries it out (docs/protocol.md);
this module turns what the user wrote into :class:`CancelConfig` entries, or
fails with ``cancel_on_invalid`` / ``filter_invalid`` saying why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from weir.errors import CancelOnInvalidError, EventInvalidError, TriggerInvalidError
from weir.events.names import check_event_name
from weir.functions.config import CancelConfig, compile_match_expression
from weir.functions.durations import positive_seconds
from weir.functions.events import event_name_of

# A dotted path into the event's JSON form: "data.cart_id", "user.account".
MATCH_PATH = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


@dataclass(frozen=True)
class CancelOn:
    """Cancel a run when ``event`` matches it (by ``match`` path and/or ``if_`` expression)."""

    event: str | type[Any]
    match: str | None = None
    if_: str | None = None
    timeout: timedelta | float | None = None


def resolve_cancel_on(items: object) -> list[CancelConfig]:
    """Every ``cancel_on`` entry, validated (CancelOn instances or dicts with the same keys)."""
    if items is None:
        return []
    if isinstance(items, (CancelOn, Mapping)) or not isinstance(items, Sequence):
        items = [items]
    if isinstance(items, str):
        raise CancelOnInvalidError("cancel_on is a list of CancelOn(event=..., match=...)")
    return [_resolve_one(_as_cancel_on(item)) for item in items]


def _as_cancel_on(item: object) -> CancelOn:
    if isinstance(item, CancelOn):
        return item
    if isinstance(item, Mapping):
        given = dict(item)
        if "if" in given:
            given["if_"] = given.pop("if")
        known = {f.name for f in fields(CancelOn)}
        unknown = sorted(str(key) for key in given if key not in known)
        if unknown or "event" not in given:
            raise CancelOnInvalidError(
                f"a cancel_on entry takes event, match, if and timeout (got {sorted(item)})"
            )
        return CancelOn(**given)
    raise CancelOnInvalidError(
        f"a cancel_on entry is a CancelOn(event=..., match=...) or a dict, not {item!r}"
    )


def _resolve_one(item: CancelOn) -> CancelConfig:
    name = _event_name(item.event)
    if item.match is None and item.if_ is None:
        raise CancelOnInvalidError(
            f"cancel_on {name!r} needs match= or if_= (else any such event would cancel every "
            "run); e.g. match='data.cart_id'",
            detail={"event": name},
        )
    if item.match is not None and (
        not isinstance(item.match, str) or MATCH_PATH.fullmatch(item.match) is None
    ):
        raise CancelOnInvalidError(
            f"cancel_on {name!r}: match is a dotted path such as 'data.cart_id', not "
            f"{item.match!r}",
            detail={"event": name},
        )
    if item.if_ is not None:
        compile_match_expression(item.if_)  # FilterInvalidError names the mistake
    return CancelConfig(
        event=name,
        match=item.match,
        if_=item.if_,
        timeout=positive_seconds(
            item.timeout, f"cancel_on {name!r}: timeout", CancelOnInvalidError
        ),
    )


def _event_name(event: object) -> str:
    if isinstance(event, str):
        if "*" in event:
            raise CancelOnInvalidError(
                f"cancel_on event {event!r} is a pattern; name one event", detail={"event": event}
            )
        try:
            return check_event_name(event, path="cancel_on.event")
        except EventInvalidError as exc:
            raise CancelOnInvalidError(exc.message, detail={"event": event[:256]}) from None
    if isinstance(event, type):
        try:
            return event_name_of(event)
        except TriggerInvalidError as exc:
            raise CancelOnInvalidError(f"cancel_on: {exc.message}") from None
    raise CancelOnInvalidError(f"cancel_on event is an event name or an Event class, not {event!r}")
