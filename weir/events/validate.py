"""Check a value against an Avro schema and turn it into what fastavro writes.

:func:`compile_checker` turns a schema (its JSON form) into one function that
walks a value once, collects every problem as a :class:`FieldError` whose
path names the field (``data.items[2].price``), and returns the datum to
encode. It takes the JSON form of values (what the gateway receives) as well
as Python's own (what a model dump holds):

=====================  ===============================================  ==========================
Avro type              JSON form                                        Python form
=====================  ===============================================  ==========================
bytes                  base64 string                                    bytes
decimal (bytes/fixed)  string or number ("12.50", 12.5)                 Decimal
uuid (string)          canonical UUID string                            UUID
date (int)             ISO date string or days since the epoch          date
time-* (int/long)      ISO time string or ms/us since midnight          time
timestamp-* (long)     ISO 8601 string or ms/us since the epoch         datetime (naive = UTC)
enum                   one of the symbols                               str or Enum member
=====================  ===============================================  ==========================

Union members come out in fastavro's tuple notation ``(branch name, datum)``
so the writer need not guess the branch.
"""

from __future__ import annotations

import binascii
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from weir.errors import EventInvalidError


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field: where (``data.items[2].price``) and what."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


Check = Callable[[Any, str, list[FieldError]], Any]

MAX_ERRORS_SHOWN = 20
_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
_KINDS = PRIMITIVES | NAMED | {"array", "map"}


def invalid(errors: list[FieldError], *, prefix: str = "") -> EventInvalidError:
    """One :class:`EventInvalidError` for a list of problems (all listed in ``errors``)."""
    shown = "; ".join(str(e) for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return EventInvalidError(
        f"{prefix}{shown}{more}",
        path=errors[0].path,
        detail={"errors": [e.as_dict() for e in errors[:MAX_ERRORS_SHOWN]]},
    )


def kind(value: Any) -> str:
    """How a value reads in an error message: 'a string', 'an object', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"


def type_label(schema: Any) -> str:
    """How a schema reads in an error message."""
    if isinstance(schema, list):
        return " or ".join(type_label(s) for s in schema)
    if isinstance(schema, dict):
        return str(schema.get("logicalType") or schema.get("name") or schema.get("type"))
    return str(schema)


def full_name(schema: Mapping[str, Any], namespace: str | None) -> tuple[str, str | None]:
    """(full name, namespace for the types nested in it) of a named schema."""
    name = str(schema["name"])
    if "." in name:
        return name, name.rsplit(".", 1)[0]
    space = schema.get("namespace", namespace) or None
    return (f"{space}.{name}" if space else name), space


def compile_checker(schema: Any, *, namespace: str | None = None) -> Check:
    """One function that checks and converts values of ``schema`` (see module doc)."""
    return _Compiler().build(schema, namespace)


class _Compiler:
    def __init__(self) -> None:
        self.named: dict[str, Check] = {}

    def build(self, schema: Any, namespace: str | None) -> Check:
        if isinstance(schema, str):
            return self._by_name(schema, namespace)
        if isinstance(schema, list):
            return self._union(schema, namespace)
        kind_ = schema["type"]
        if not isinstance(kind_, str) or kind_ not in _KINDS:
            return self.build(kind_, namespace)  # {"type": <another schema or a type name>}
        if kind_ in ("record", "error"):
            return self._record(schema, namespace)
        if kind_ == "enum":
            return self._register(schema, namespace, _enum(list(schema["symbols"])))
        if kind_ == "fixed":
            check = _fixed(int(schema["size"]), schema)
            return self._register(schema, namespace, check)
        if kind_ == "array":
            return _array(self.build(schema["items"], namespace))
        if kind_ == "map":
            return _map(self.build(schema["values"], namespace))
        return _logical(kind_, schema) or _PRIMITIVE_CHECKS[kind_]

    def _register(self, schema: Mapping[str, Any], namespace: str | None, check: Check) -> Check:
        name, _ = full_name(schema, namespace)
        self.named[name] = check
        return check

    def _by_name(self, name: str, namespace: str | None) -> Check:
        if name in PRIMITIVES:
            return _PRIMITIVE_CHECKS[name]
        candidates = [name] if "." in name else [f"{namespace}.{name}", name]
        named = self.named

        def reference(value: Any, path: str, errors: list[FieldError]) -> Any:
            for candidate in candidates:  # late-bound: the type may be recursive
                check = named.get(candidate)
                if check is not None:
                    return check(value, path, errors)
            errors.append(FieldError(path, f"the schema names an unknown type {name!r}"))
            return None

        return reference

    def _record(self, schema: Mapping[str, Any], namespace: str | None) -> Check:
        name, inner = full_name(schema, namespace)
        fields: list[tuple[str, str, Check, bool, bool]] = []
        known: set[str] = set()

        def record(value: Any, path: str, errors: list[FieldError]) -> Any:
            if not isinstance(value, Mapping):
                errors.append(FieldError(path, f"expected an object, got {kind(value)}"))
                return None
            out: dict[str, Any] = {}
            for field, suffix, check, has_default, nullable in fields:
                if field in value:
                    out[field] = check(value[field], path + suffix, errors)
                elif nullable:
                    out[field] = None
                elif not has_default:
                    errors.append(FieldError(path + suffix, "is required"))
            if not known.issuperset(value):
                for key in value:
                    if key not in known:
                        errors.append(FieldError(_child(path, key), "is not a field of this event"))
            return out

        self.named[name] = record  # before the fields: they may refer back to it
        for field in schema.get("fields", []):
            ftype = field["type"]
            nullable = ftype == "null" or (isinstance(ftype, list) and "null" in ftype)
            fname = str(field["name"])
            fields.append(
                (fname, "." + fname, self.build(ftype, inner), "default" in field, nullable)
            )
            known.add(fname)
        return record

    def _union(self, branches: list[Any], namespace: str | None) -> Check:
        has_null = "null" in branches
        others = [
            (self._branch_name(b, namespace), self.build(b, namespace))
            for b in branches
            if b != "null"
        ]
        label = type_label(branches)

        def union(value: Any, path: str, errors: list[FieldError]) -> Any:
            if value is None:
                if not has_null:
                    errors.append(FieldError(path, f"is null, expected {label}"))
                return None
            if len(others) == 1:
                name, check = others[0]
                return (name, check(value, path, errors))
            for name, check in others:
                scratch: list[FieldError] = []
                out = check(value, path, scratch)
                if not scratch:
                    return (name, out)
            errors.append(FieldError(path, f"expected {label}, got {kind(value)}"))
            return None

        return union

    @staticmethod
    def _branch_name(schema: Any, namespace: str | None) -> str:
        """The name fastavro's tuple notation uses for a union branch."""
        if isinstance(schema, str):
            if schema in PRIMITIVES or "." in schema or not namespace:
                return schema
            return f"{namespace}.{schema}"
        if isinstance(schema, dict):
            if schema.get("type") in NAMED:
                return full_name(schema, namespace)[0]
            inner = schema.get("type")
            return inner if isinstance(inner, str) else "union"
        return "union"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"


# -- primitives ---------------------------------------------------------------


def _null(value: Any, path: str, errors: list[FieldError]) -> Any:
    if value is not None:
        errors.append(FieldError(path, f"expected null, got {kind(value)}"))
    return None


def _boolean(value: Any, path: str, errors: list[FieldError]) -> Any:
    if value is True or value is False:
        return value
    errors.append(FieldError(path, f"expected a boolean, got {kind(value)}"))
    return None


def _integer(low: int, high: int) -> Check:
    def integer(value: Any, path: str, errors: list[FieldError]) -> Any:
        if isinstance(value, Enum):
            value = value.value
        if type(value) is not int:
            whole = isinstance(value, float) and value.is_integer()
            if whole or (isinstance(value, int) and not isinstance(value, bool)):
                value = int(value)
            else:
                errors.append(FieldError(path, f"expected an integer, got {kind(value)}"))
                return None
        if not low <= value <= high:
            errors.append(FieldError(path, f"{value} is out of range [{low}, {high}]"))
        return value

    return integer


def _number(value: Any, path: str, errors: list[FieldError]) -> Any:
    if type(value) is float:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    errors.append(FieldError(path, f"expected a number, got {kind(value)}"))
    return None


def _string(value: Any, path: str, errors: list[FieldError]) -> Any:
    if type(value) is str:
        return value
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        return str(value)
    errors.append(FieldError(path, f"expected a string, got {kind(value)}"))
    return None


def _bytes(value: Any, path: str, errors: list[FieldError]) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return binascii.a2b_base64(value, strict_mode=True)
        except binascii.Error:
            errors.append(FieldError(path, "expected base64 text (bytes in JSON are base64)"))
            return None
    errors.append(FieldError(path, f"expected bytes (base64 text), got {kind(value)}"))
    return None


_PRIMITIVE_CHECKS: dict[str, Check] = {
    "null": _null,
    "boolean": _boolean,
    "int": _integer(*_INT_RANGE),
    "long": _integer(*_LONG_RANGE),
    "float": _number,
    "double": _number,
    "string": _string,
    "bytes": _bytes,
}


# -- logical types, enums, fixed, containers ------------------------------------


def _logical(base: str, schema: Mapping[str, Any]) -> Check | None:
    logical = schema.get("logicalType")
    if logical == "decimal" and base == "bytes":
        return _decimal(int(schema.get("precision", 0)), int(schema.get("scale", 0)))
    if logical == "uuid" and base == "string":
        return _uuid
    if logical == "date" and base == "int":
        return _temporal(date, date.fromisoformat, _PRIMITIVE_CHECKS["int"], "an ISO date")
    if logical in ("time-millis", "time-micros") and base in ("int", "long"):
        return _temporal(time, time.fromisoformat, _PRIMITIVE_CHECKS[base], "an ISO time")
    if (
        logical
        in (
            "timestamp-millis",
            "timestamp-micros",
            "local-timestamp-millis",
            "local-timestamp-micros",
        )
        and base == "long"
    ):
        return _temporal(
            datetime, datetime.fromisoformat, _PRIMITIVE_CHECKS["long"], "an ISO 8601 timestamp"
        )
    return None


def _decimal(precision: int, scale: int) -> Check:
    whole_digits = precision - scale

    def decimal(value: Any, path: str, errors: list[FieldError]) -> Any:
        if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
            errors.append(FieldError(path, f"expected a decimal number, got {kind(value)}"))
            return None
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value))
        except InvalidOperation:
            errors.append(FieldError(path, f"{value!r} is not a decimal number"))
            return None
        if not number.is_finite():
            errors.append(FieldError(path, f"{value!r} is not a finite decimal number"))
            return None
        places = -int(number.as_tuple().exponent)
        if places > scale:
            errors.append(FieldError(path, f"{number} has more than {scale} decimal places"))
            return None
        if number and number.adjusted() + 1 > whole_digits:
            errors.append(
                FieldError(path, f"{number} has more than {whole_digits} digits before the point")
            )
            return None
        return number

    return decimal


def _uuid(value: Any, path: str, errors: list[FieldError]) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    errors.append(FieldError(path, f"expected a UUID string, got {kind(value)}"))
    return None


def _temporal(python_type: type, parse: Callable[[str], Any], number: Check, what: str) -> Check:
    exact = datetime if python_type is date else None

    def temporal(value: Any, path: str, errors: list[FieldError]) -> Any:
        # a datetime is also a date; a date field takes only a date
        if isinstance(value, python_type) and (exact is None or type(value) is not exact):
            return value
        if isinstance(value, str):
            try:
                return parse(value)
            except ValueError:
                errors.append(FieldError(path, f"{value[:40]!r} is not {what}"))
                return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return number(value, path, errors)
        errors.append(FieldError(path, f"expected {what}, got {kind(value)}"))
        return None

    return temporal


def _enum(symbols: list[str]) -> Check:
    allowed = frozenset(symbols)

    def enum(value: Any, path: str, errors: list[FieldError]) -> Any:
        if isinstance(value, Enum):
            value = value.value
        if isinstance(value, str) and value in allowed:
            return str(value)
        shown = ", ".join(symbols[:10]) + (", ..." if len(symbols) > 10 else "")
        errors.append(FieldError(path, f"{value!r} is not one of: {shown}"))
        return None

    return enum


def _fixed(size: int, schema: Mapping[str, Any]) -> Check:
    if schema.get("logicalType") == "decimal":
        return _decimal(int(schema.get("precision", 0)), int(schema.get("scale", 0)))

    def fixed(value: Any, path: str, errors: list[FieldError]) -> Any:
        data = _bytes(value, path, errors)
        if data is not None and len(data) != size:
            errors.append(FieldError(path, f"expected exactly {size} bytes, got {len(data)}"))
        return data

    return fixed


def _array(items: Check) -> Check:
    def array(value: Any, path: str, errors: list[FieldError]) -> Any:
        if not isinstance(value, list | tuple):
            errors.append(FieldError(path, f"expected an array, got {kind(value)}"))
            return None
        return [items(item, f"{path}[{i}]", errors) for i, item in enumerate(value)]

    return array


def _map(values: Check) -> Check:
    def map_(value: Any, path: str, errors: list[FieldError]) -> Any:
        if not isinstance(value, Mapping):
            errors.append(FieldError(path, f"expected an object, got {kind(value)}"))
            return None
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                errors.append(FieldError(path, f"map keys are strings, got {kind(key)}"))
                continue
            out[key] = values(item, _child(path, key), errors)
        return out

    return map_
