"""Checks of the envelope fields every event has (id, ts, user, v).

Shared by typed events, untyped events and the gateway's JSON parsing, so the
same input gets the same error (``event_invalid`` with the field's path)
wherever it enters.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from weir.errors import EventInvalidError

ID_PATTERN = re.compile(r"[!-~]{1,128}")  # printable ASCII, no spaces
VERSION_MAX = 64
USER_KEYS_MAX = 64
_LONG_RANGE = (-(2**63), 2**63 - 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

UserValue = None | bool | int | float | str


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def check_id(value: Any, path: str = "id") -> str:
    if isinstance(value, str) and ID_PATTERN.fullmatch(value):
        return value
    raise EventInvalidError(
        f"{path}: an event id is 1-128 printable ASCII characters without spaces, "
        f"not {value!r:.60}",
        path=path,
    )


def check_ts(value: Any, path: str = "ts") -> int:
    """Milliseconds since the epoch, from an int (ms) or a datetime (naive = UTC)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _MILLISECOND
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _LONG_RANGE[1]:
        return int(value)
    raise EventInvalidError(
        f"{path}: ts is milliseconds since the epoch (a non-negative integer), not {value!r:.60}",
        path=path,
    )


def check_version(value: Any, path: str = "v") -> str | None:
    if value is None or (isinstance(value, str) and 0 < len(value) <= VERSION_MAX):
        return value
    raise EventInvalidError(
        f"{path}: v is a version string of 1-{VERSION_MAX} characters, not {value!r:.60}",
        path=path,
    )


def check_user(value: Any, path: str = "user") -> dict[str, UserValue] | None:
    """``user`` as a dict of scalars (null, boolean, integer, number, string)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise EventInvalidError(f"{path}: user is an object, not {type(value).__name__}", path=path)
    if len(value) > USER_KEYS_MAX:
        raise EventInvalidError(f"{path}: user has more than {USER_KEYS_MAX} keys", path=path)
    out: dict[str, UserValue] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise EventInvalidError(f"{path}: user keys are strings, not {key!r:.40}", path=path)
        where = f"{path}.{key}"
        if item is None or isinstance(item, bool | float | str):
            out[key] = item
        elif isinstance(item, int) and _LONG_RANGE[0] <= item <= _LONG_RANGE[1]:
            out[key] = int(item)
        else:
            raise EventInvalidError(
                f"{where}: user values are null, booleans, 64-bit integers, numbers or "
                f"strings, not {type(item).__name__}",
                path=where,
            )
    return out


_MILLISECOND = datetime.resolution * 1000
