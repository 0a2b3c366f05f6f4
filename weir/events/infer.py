"""Infer an Avro schema from an event's JSON data, and evolve it compatibly.

Inference (:func:`infer_data_record`) maps JSON to Avro:

* object -> record (fields in the order seen; an object whose keys are not all
  valid Avro names, like ``{"first-name": ...}``, becomes a map instead)
* array -> array whose items are the merge of every element's type
  (an empty array has items ``null`` until an element shows up)
* integer -> long, number -> double, boolean -> boolean, string -> string
* null -> ``null`` (the field is optional: it becomes ``["null", T]`` once a
  value shows its type)
* from Python callers also datetime -> timestamp-micros, date -> date,
  UUID -> uuid string, bytes -> bytes, Decimal -> decimal(38, 9)

Evolution (:func:`evolve_data_record`) merges a new payload into the current
record. Every change it makes can read data written with the old schema
(BACKWARD compatible, the registry's default):

* a new field is added as ``["null", T]`` with default null
* a field that is missing or null becomes ``["null", T]`` with default null
* an integer field that receives a fractional number becomes double
  (Avro promotes long to double when reading old data)

Anything else (a string field receiving an object, an array receiving a
number, ...) cannot be read back compatibly and is refused with
``schema_incompatible`` naming the field path and the reason. Data that has
no schema at all (an array mixing numbers and strings, an integer beyond 64
bits) is ``event_invalid``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from weir.errors import SchemaIncompatibleError
from weir.events.envelope import DATA_RECORD
from weir.events.names import data_namespace, is_avro_name, short_name
from weir.events.validate import FieldError, compile_checker, invalid, kind

_LONG_RANGE = (-(2**63), 2**63 - 1)
_DEFAULT_DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 9}
_UNKNOWN: Any = object()  # the items of an array before its first element


def infer_data_record(event_name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh data record for ``data`` (the event's data object)."""
    work = _Inference(used=set())
    record = work.record(data, "data", DATA_RECORD)
    # Within one payload a conflict (an array of numbers and strings) is bad data.
    work.invalid.extend(
        FieldError(p.path, f"elements of an array need one type: {p.message}")
        for p in work.incompatible
    )
    work.raise_problems()
    record["namespace"] = data_namespace(event_name)
    return record


def evolve_data_record(record: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any] | None:
    """``record`` changed to also hold ``data``; None when it already does.

    Raises :class:`SchemaIncompatibleError` when ``data`` needs a change that
    old readers' data would not survive, and :class:`EventInvalidError` for
    values no schema can hold (an integer beyond 64 bits, a set, ...).
    """
    work = _Inference(used=_record_names(record))
    merged = work.merge(record, data, "data", DATA_RECORD)
    work.raise_problems()
    return None if merged is record else merged


def _record_names(schema: Any, found: set[str] | None = None) -> set[str]:
    """Short names of every named type in ``schema`` (new ones must differ)."""
    found = set() if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            _record_names(branch, found)
    elif isinstance(schema, dict):
        if "name" in schema and schema.get("type") in ("record", "enum", "fixed"):
            found.add(short_name(str(schema["name"])))
        for field in schema.get("fields", []):
            _record_names(field.get("type"), found)
        for key in ("items", "values"):
            if key in schema:
                _record_names(schema[key], found)
    return found


def _describe(schema: Any) -> str:
    base = schema.get("type") if isinstance(schema, dict) else schema
    if isinstance(schema, dict) and schema.get("logicalType"):
        return f"a {schema['logicalType']}"
    return {
        "null": "null",
        "boolean": "a boolean",
        "int": "an integer",
        "long": "an integer",
        "float": "a number",
        "double": "a number",
        "string": "a string",
        "bytes": "bytes",
        "record": "an object",
        "map": "an object",
        "array": "an array",
    }.get(str(base), f"a {base}")


def _nullable(schema: Any) -> bool:
    return schema == "null" or (isinstance(schema, list) and "null" in schema)


def _optional(schema: Any) -> Any:
    """``schema`` that also takes null (null first, so the default can be null)."""
    if _nullable(schema):
        return schema
    if isinstance(schema, list):
        return ["null", *schema]
    return ["null", schema]


class _Inference:
    def __init__(self, used: set[str]) -> None:
        self.used = used
        self.incompatible: list[FieldError] = []
        self.invalid: list[FieldError] = []

    def raise_problems(self) -> None:
        if self.invalid:
            raise invalid(self.invalid)
        if self.incompatible:
            first = self.incompatible[0]
            shown = "; ".join(str(p) for p in self.incompatible[:3])
            raise SchemaIncompatibleError(
                f"the data needs an incompatible schema change: {shown}",
                error_code=409,
                detail={
                    "path": first.path,
                    "errors": [p.as_dict() for p in self.incompatible[:20]],
                },
            )

    def new_name(self, hint: str) -> str:
        name, n = hint, 2
        while name in self.used:
            name, n = f"{hint}_{n}", n + 1
        self.used.add(name)
        return name

    # -- fresh types ---------------------------------------------------------

    def infer(self, value: Any, path: str, hint: str) -> Any:
        if value is None:
            return "null"
        if isinstance(value, Enum):
            value = value.value
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            if not _LONG_RANGE[0] <= value <= _LONG_RANGE[1]:
                self.invalid.append(FieldError(path, f"{value} does not fit in 64 bits"))
            return "long"
        if isinstance(value, float):
            return "double"
        if isinstance(value, str):
            return "string"
        if isinstance(value, Mapping):
            if all(isinstance(k, str) and is_avro_name(k) for k in value):
                return self.record(value, path, hint)
            return {"type": "map", "values": self.merge_all(value.items(), path, hint, keyed=True)}
        if isinstance(value, list | tuple):
            return {"type": "array", "items": self.merge_all(enumerate(value), path, hint)}
        if isinstance(value, datetime):
            return {"type": "long", "logicalType": "timestamp-micros"}
        if isinstance(value, date):
            return {"type": "int", "logicalType": "date"}
        if isinstance(value, uuid.UUID):
            return {"type": "string", "logicalType": "uuid"}
        if isinstance(value, bytes):
            return "bytes"
        if isinstance(value, Decimal):
            return dict(_DEFAULT_DECIMAL)
        self.invalid.append(FieldError(path, f"{kind(value)} has no JSON or Avro form"))
        return "null"

    def record(self, value: Mapping[str, Any], path: str, hint: str) -> dict[str, Any]:
        name = self.new_name(hint)
        fields = []
        for key, item in value.items():
            ftype = self.infer(item, f"{path}.{key}", f"{name}_{key}")
            field: dict[str, Any] = {"name": key, "type": ftype}
            if ftype == "null":
                field["default"] = None
            fields.append(field)
        return {"type": "record", "name": name, "fields": fields}

    def merge_all(self, items: Any, path: str, hint: str, *, keyed: bool = False) -> Any:
        merged = _UNKNOWN
        for key, item in items:
            where = f"{path}.{key}" if keyed else f"{path}[{key}]"
            merged = (
                self.infer(item, where, hint)
                if merged is _UNKNOWN
                else self.merge(merged, item, where, hint)
            )
        return "null" if merged is _UNKNOWN else merged

    # -- merging a value into an existing type --------------------------------

    def merge(self, schema: Any, value: Any, path: str, hint: str) -> Any:
        """``schema`` grown to also hold ``value`` (the same object when it already does)."""
        if isinstance(value, Enum):
            value = value.value
        if value is None:
            return _optional(schema)
        if schema == "null":
            return ["null", self.infer(value, path, hint)]
        if isinstance(schema, list):
            others = [b for b in schema if b != "null"]
            if len(others) != 1:
                return self.incompatible_with(schema, value, path)
            merged = self.merge(others[0], value, path, hint)
            return schema if merged is others[0] else _optional(merged)
        if isinstance(schema, dict):
            kind_ = schema.get("type")
            if kind_ == "record":
                return self.merge_record(schema, value, path)
            if kind_ == "map" and isinstance(value, Mapping):
                values = schema["values"]
                for key, item in value.items():
                    values = self.merge(values, item, f"{path}.{key}", hint)
                return schema if values is schema["values"] else {**schema, "values": values}
            if kind_ == "array" and isinstance(value, list | tuple):
                items = schema["items"]
                for i, item in enumerate(value):
                    items = self.merge(items, item, f"{path}[{i}]", hint)
                return schema if items is schema["items"] else {**schema, "items": items}
        if schema in ("long", "int") and isinstance(value, float):
            return "double"  # Avro reads old longs as doubles: a compatible widening
        if schema == "long" and isinstance(value, int) and not isinstance(value, bool):
            if not _LONG_RANGE[0] <= value <= _LONG_RANGE[1]:
                self.invalid.append(FieldError(path, f"{value} does not fit in 64 bits"))
            return schema
        if schema in ("record", "map", "array") or (
            isinstance(schema, dict) and schema.get("type") in ("map", "array")
        ):
            return self.incompatible_with(schema, value, path)
        scratch: list[FieldError] = []
        compile_checker(schema)(value, path, scratch)
        if scratch:
            return self.incompatible_with(schema, value, path)
        return schema

    def merge_record(self, record: dict[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            return self.incompatible_with(record, value, path)
        bad = [k for k in value if not (isinstance(k, str) and is_avro_name(k))]
        if bad:
            self.incompatible.append(
                FieldError(
                    f"{path}",
                    f"was an object with fields, now has the key {bad[0]!r}, which is not a "
                    "valid field name ([A-Za-z_][A-Za-z0-9_]*)",
                )
            )
            return record
        name = short_name(str(record["name"]))
        fields: list[dict[str, Any]] = record.get("fields", [])
        changed = False
        out = []
        for field in fields:
            fname = field["name"]
            if fname in value:
                ftype = self.merge(
                    field["type"], value[fname], f"{path}.{fname}", f"{name}_{fname}"
                )
            else:
                ftype = _optional(field["type"])
            if ftype is not field["type"]:
                field = {**field, "type": ftype}
                if _nullable(ftype):
                    field["default"] = None
                changed = True
            out.append(field)
        known = {f["name"] for f in fields}
        for key, item in value.items():
            if key not in known:
                ftype = self.infer(item, f"{path}.{key}", f"{name}_{key}")
                out.append({"name": key, "type": _optional(ftype), "default": None})
                changed = True
        return {**record, "fields": out} if changed else record

    def incompatible_with(self, schema: Any, value: Any, path: str) -> Any:
        self.incompatible.append(FieldError(path, f"was {_describe(schema)}, is now {kind(value)}"))
        return schema
