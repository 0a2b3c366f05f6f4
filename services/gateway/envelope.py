"""Parse a ``POST /e/{key}`` body into events.

A body is one event object or a JSON array of them::

    {"name": "shop/cart.added", "data": {...}, "user": {...},
     "id": "...", "ts": 1700000000000, "v": "1"}

The per-event rules (required ``name``, unknown keys refused, ``id`` and
``ts`` filled in when absent, error paths such as ``[3].name``) are the SDK's
(:func:`weir.events.raw.parse_events`), so the gateway and the SDK refuse the
same input with the same error. What is the gateway's own: the body must be
JSON (else 400 ``request_malformed``), an object or an array (else 400), and
an array may hold at most ``gateway_max_events`` events (else 413
``payload_too_large``, checked before any event is looked at).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from weir.errors import PayloadTooLargeError, RequestMalformedError
from weir.events.raw import RawEvent, parse_events


@dataclass(frozen=True, slots=True)
class ParsedBody:
    events: list[RawEvent]
    #: An array of one event is still an array: its error paths start with ``[0]``.
    is_array: bool


def parse_json(raw: bytes) -> Any:
    """The request body as JSON, or a 400 that says where it broke."""
    if not raw.strip():
        raise RequestMalformedError("the request body is empty; send a JSON event or array")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestMalformedError(f"the request body is not valid JSON: {exc}") from None


def parse_body(raw: bytes, *, max_events: int) -> ParsedBody:
    document = parse_json(raw)
    if isinstance(document, list):
        if len(document) > max_events:
            raise PayloadTooLargeError(
                f"the array holds {len(document)} events; at most {max_events} per request",
                detail={"limit": max_events, "events": len(document)},
            )
        return ParsedBody(parse_events(document), is_array=True)
    if isinstance(document, dict):
        return ParsedBody(parse_events(document), is_array=False)
    raise RequestMalformedError(
        f"the request body must be a JSON object or an array of objects, not {json_type(document)}"
    )


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
