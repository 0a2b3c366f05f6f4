"""Keys of the wait index: which waits an event can resume, found without a scan.

A wait ``wait_for_event(event="shop/checkout.completed", match="data.cart_id")``
of a run whose trigger has ``data.cart_id == "c1"`` is stored under the key of
("shop/checkout.completed", "data.cart_id", "c1"). An incoming event of that
name is probed under the key of its own value at the same path, so the lookup
is one table read in one partition. A wait with only an ``if_`` expression
(or with neither) is stored under the key of (name, "", None) and every event
of that name is probed there too: such waits are checked one by one.

Keys are hashes: values may be long, and the key only picks a partition and a
table row (the row keeps nothing that needs the readable form).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

MISSING = object()


def value_at(document: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``data.cart_id``), or MISSING."""
    current: Any = document
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return MISSING
        current = current[part]
    return current


def wait_key(event_name: str, path: str, value: Any) -> str:
    text = json.dumps([event_name, path, value], sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def unindexed_key(event_name: str) -> str:
    """Where waits without a match path for ``event_name`` are stored."""
    return wait_key(event_name, "", None)


def probe_keys(event: Mapping[str, Any], paths: frozenset[str]) -> list[str]:
    """Every key under which ``event`` may resume a wait, given the paths in use for its name.

    ``""`` in ``paths`` stands for the unindexed waits of the name.
    """
    name = event.get("name")
    if not isinstance(name, str):
        return []
    keys = []
    for path in sorted(paths):
        if path == "":
            keys.append(unindexed_key(name))
            continue
        value = value_at(event, path)
        if indexable(value):
            keys.append(wait_key(name, path, value))
    return keys


def indexable(value: Any) -> bool:
    """Scalars only (not MISSING): a wait matches on an id, not on a whole object."""
    return value is None or isinstance(value, str | int | float | bool)
