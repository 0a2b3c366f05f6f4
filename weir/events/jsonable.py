"""Avro datums and Python values to their JSON form (the form of the HTTP API).

bytes -> base64, Decimal -> string, datetime -> ISO 8601 (naive taken as UTC),
date and time -> ISO, UUID -> string, Enum -> its value, and in datums fastavro's
union tuples ``(branch, datum)`` -> the datum. :mod:`weir.events.validate` reads
every one of these back.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel


def to_jsonable(value: Any, *, datum: bool = False) -> Any:
    """The JSON form of ``value``; ``datum=True`` when it is an Avro datum from a
    converter, whose 2-tuples are union notation rather than arrays."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, datum=datum) for k, v in value.items()}
    if datum and isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return to_jsonable(value[1], datum=datum)  # fastavro union notation (branch, datum)
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, datum=datum) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump())
    return str(value)
