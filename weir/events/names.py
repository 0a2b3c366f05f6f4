"""Event names, and how they map to Avro names and registry subjects.

An event name such as ``shop/cart.added`` is free-form within
:data:`EVENT_NAME_PATTERN`. Avro names only allow ``[A-Za-z_][A-Za-z0-9_]*``,
so the record of an event is named by :func:`avro_name`: every other
character becomes ``_`` (``shop/cart.added`` -> ``shop_cart_added``). That
mapping is not one-to-one, which is harmless: each event has its own subject
and schema, and the original name stays in the schema (the ``weir.event``
property) and in every record (the ``name`` field).

The registry subject of an event is its name, behind an optional prefix
(setting ``schema_subject_prefix``): ``shop/cart.added`` ->
``<prefix>shop/cart.added``. See docs/events.md.
"""

from __future__ import annotations

import re

from weir.errors import EventInvalidError

EVENT_NAME_MAX = 256
EVENT_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./:-]*")
AVRO_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_AVRO = re.compile(r"[^A-Za-z0-9_]")

# Namespace of every event record; the data record and the records nested in it
# live one level below, in ``weir.events.<avro name of the event>``.
EVENTS_NAMESPACE = "weir.events"


def check_event_name(name: object, *, path: str = "name") -> str:
    """``name`` if it is a valid event name, else :class:`EventInvalidError` at ``path``."""
    if not isinstance(name, str):
        raise EventInvalidError(
            f"{path}: an event name is a string, not {type(name).__name__}", path=path
        )
    if len(name) > EVENT_NAME_MAX or EVENT_NAME_PATTERN.fullmatch(name) is None:
        raise EventInvalidError(
            f"{path}: {name[:80]!r} is not a valid event name (1-{EVENT_NAME_MAX} characters: "
            "letters, digits and _ . / : -, starting with a letter or digit; "
            "e.g. 'shop/cart.added')",
            path=path,
        )
    return name


def is_avro_name(text: str) -> bool:
    return AVRO_NAME_PATTERN.fullmatch(text) is not None


def avro_name(event_name: str) -> str:
    """The Avro record name of an event: other characters become ``_``."""
    name = _NOT_AVRO.sub("_", event_name)
    return name if is_avro_name(name) else f"_{name}"


def data_namespace(event_name: str) -> str:
    """Namespace of the data record of an event and of the records nested in it."""
    return f"{EVENTS_NAMESPACE}.{avro_name(event_name)}"


def subject_for(event_name: str, prefix: str = "") -> str:
    """The registry subject that holds the schema of ``event_name``."""
    return f"{prefix}{event_name}"


def short_name(full_name: str) -> str:
    """``a.b.C`` -> ``C``."""
    return full_name.rsplit(".", 1)[-1]
