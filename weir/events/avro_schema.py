"""From a Pydantic model to an Avro record, plus a fast converter to its datum.

:func:`model_record` walks a model's fields once and returns the Avro record
and a generated function that turns an instance into the dict fastavro
writes, reading attributes directly (no ``model_dump``, no JSON round trip).

================================  ==========================================================
Python type                       Avro type
================================  ==========================================================
str / int / float / bool / bytes  string / long / double / boolean / bytes
T | None                          ["null", T] (default null when the field defaults to None)
nested BaseModel                  record (named by its path: Data_address, Data_items, ...)
list[T], tuple[T, ...], set[T]    array
dict[str, T]                      map
Enum (string values that are      enum (symbols = the values; else the values' own type)
valid Avro names)
Literal["a", "b"]                 the literals' type (string / long / boolean)
datetime                          long, timestamp-micros (naive datetimes are taken as UTC)
date / time                       int date / long time-micros
Decimal                           bytes decimal: max_digits=p, decimal_places=s ->
                                  (p, s); only p -> (2p, p); only s -> (38, s); none -> (38, 9)
UUID                              string uuid
pydantic URL types                string
A | B (other unions)              union of the members (at most one per Avro type)
================================  ==========================================================

Records are named after their path from the data record (``Data``,
``Data_items``, ``Data_items_product``), the same names schema inference
gives, so an inferred schema and the typed one that replaces it can stay
compatible. A model used twice is defined once and referred to by name, which
also makes recursive models work.
"""

from __future__ import annotations

import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Union

import pydantic.networks
from pydantic import AnyUrl, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import MultiHostUrl, Url

from weir.errors import EventModelError
from weir.events.envelope import DATA_RECORD
from weir.events.names import is_avro_name

DEFAULT_DECIMAL = (38, 9)  # (precision, scale) of a Decimal without constraints
MAX_DECIMAL_PRECISION = 76  # 2 x 38: what "only max_digits" may double up to

# pydantic's URL types (AnyUrl, HttpUrl, PostgresDsn, ...) and pydantic-core's
_URL_TYPES: tuple[type, ...] = (
    Url,
    MultiHostUrl,
    AnyUrl,
    *(
        t
        for t in (getattr(pydantic.networks, n, None) for n in ("_BaseUrl", "_BaseMultiHostUrl"))
        if isinstance(t, type)
    ),
)

Expr = Callable[[str], str]  # turns the Python expression of a value into that of its datum


@dataclass(frozen=True)
class ModelAvro:
    """The Avro record of a model and the function that makes its datum from an instance."""

    record: dict[str, Any]
    to_datum: Callable[[Any], dict[str, Any]]


def model_record(model: type[BaseModel], *, namespace: str, owner: str) -> ModelAvro:
    """Avro record (named ``Data`` in ``namespace``) and datum converter of ``model``.

    ``owner`` names the event class in error messages. Raises
    :class:`EventModelError` for a field type with no Avro form.
    """
    builder = _Builder(owner, namespace)
    record, function = builder.record(model, DATA_RECORD, "data")
    record = {"type": "record", "name": DATA_RECORD, "namespace": namespace, **record}
    to_datum = builder.finish()[function]
    return ModelAvro(record=record, to_datum=to_datum)


@dataclass
class _Typed:
    avro: Any
    expr: Expr | None  # None: the value is its own datum
    branch: str  # its name in fastavro's union tuple notation
    check: str  # Python expression testing that ``x`` is of this type (for unions)


class _Builder:
    def __init__(self, owner: str, namespace: str) -> None:
        self.owner = owner
        self.namespace = namespace
        self.used: set[str] = set()
        self.models: dict[type[BaseModel], str] = {}  # model -> its record's converter name
        self.model_names: dict[type[BaseModel], str] = {}  # model -> record name
        self.enums: dict[type[Enum], str] = {}
        self.env: dict[str, Any] = {}
        self.sources: list[str] = []
        self.counter = 0

    # -- bookkeeping ------------------------------------------------------------

    def fail(self, path: str, reason: str) -> EventModelError:
        return EventModelError(
            f"{self.owner}: {path}: {reason}", detail={"event_class": self.owner, "path": path}
        )

    def new_name(self, hint: str) -> str:
        name, n = hint, 2
        while name in self.used:
            name, n = f"{hint}_{n}", n + 1
        self.used.add(name)
        return name

    def helper(self, value: Any, prefix: str = "h") -> str:
        self.counter += 1
        name = f"_{prefix}{self.counter}"
        self.env[name] = value
        return name

    def finish(self) -> dict[str, Any]:
        exec("\n".join(self.sources), self.env)  # generated from validated identifiers only
        return self.env

    # -- models -------------------------------------------------------------

    def record(self, model: type[BaseModel], hint: str, path: str) -> tuple[Any, str]:
        """(record schema, or its name when already defined; converter function name)."""
        if model in self.models:
            return self.model_names[model], self.models[model]
        if model.model_config.get("extra") == "allow":
            raise self.fail(path, f"{model.__name__} allows extra fields, which Avro cannot hold")
        name = self.new_name(hint)
        function = f"_record_{name}"
        self.models[model] = function
        self.model_names[model] = name
        fields: list[dict[str, Any]] = []
        items: list[str] = []
        for fname, info in model.model_fields.items():
            where = f"{path}.{fname}"
            if not is_avro_name(fname):
                raise self.fail(where, "is not a valid Avro field name ([A-Za-z_][A-Za-z0-9_]*)")
            if (info.alias and info.alias != fname) or (
                info.validation_alias and info.validation_alias != fname
            ):
                raise self.fail(where, "field aliases are not supported in event models")
            typed = self.type_of(info.annotation, info.metadata, where, f"{name}_{fname}")
            fields.append(self.field(fname, info, typed, where))
            value = f"m.{fname}"
            items.append(f"{fname!r}: {typed.expr(value) if typed.expr else value}")
        self.sources.append(f"def {function}(m):\n    return {{{', '.join(items)}}}\n")
        return {"type": "record", "name": name, "fields": fields}, function

    def field(self, name: str, info: FieldInfo, typed: _Typed, where: str) -> dict[str, Any]:
        field: dict[str, Any] = {"name": name, "type": typed.avro}
        if info.description:
            field["doc"] = info.description
        if info.is_required():
            return field
        try:
            default = info.get_default(call_default_factory=True, validated_data={})
        except Exception:  # a factory that needs the other fields: no Avro default
            return field
        avro = typed.avro
        if isinstance(avro, list):
            # A union's default must be of its first branch: move that branch first.
            for branch in avro:
                found = _json_default(default, branch)
                if found is not _NO_DEFAULT:
                    field["type"] = [branch, *(b for b in avro if b is not branch)]
                    field["default"] = found
                    break
            return field
        found = _json_default(default, avro)
        if found is not _NO_DEFAULT:
            field["default"] = found
        return field

    # -- types ----------------------------------------------------------------

    def type_of(self, annotation: Any, metadata: Sequence[Any], path: str, hint: str) -> _Typed:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.type_of(args[0], [*metadata, *args[1:]], path, hint)
        if origin in (Union, types.UnionType):
            return self.union(args, metadata, path, hint)
        if origin is Literal:
            return self.literal(args, path)
        if origin in (list, tuple, set, frozenset, Sequence):
            return self.array(annotation, origin, args, path, hint)
        if origin in (dict, Mapping):
            return self.mapping(args, path, hint)
        if isinstance(annotation, type):
            return self.plain(annotation, metadata, path, hint)
        raise self.fail(path, f"{annotation!r} has no Avro form")

    def plain(self, tp: type, metadata: Sequence[Any], path: str, hint: str) -> _Typed:
        if tp in (list, tuple, set, frozenset, dict):
            raise self.fail(path, f"{tp.__name__} needs an item type, e.g. {tp.__name__}[str]")
        if issubclass(tp, BaseModel):
            schema, function = self.record(tp, hint, path)
            full = self.full(schema if isinstance(schema, str) else schema["name"])
            return _Typed(schema, lambda v: f"{function}({v})", full, self.isinstance(tp))
        if issubclass(tp, Enum):
            return self.enum(tp, path, hint)
        if issubclass(tp, bool):
            return _Typed("boolean", None, "boolean", "(x is True or x is False)")
        if issubclass(tp, int):
            return _Typed("long", None, "long", "(type(x) is int)")
        if issubclass(tp, float):
            return _Typed("double", None, "double", "(type(x) is float)")
        if issubclass(tp, str):
            return _Typed("string", None, "string", "isinstance(x, str)")
        if issubclass(tp, bytes):
            return _Typed("bytes", None, "bytes", "isinstance(x, bytes)")
        if issubclass(tp, datetime):
            avro = {"type": "long", "logicalType": "timestamp-micros"}
            return _Typed(avro, None, "long", self.isinstance(datetime))
        if issubclass(tp, date):
            avro = {"type": "int", "logicalType": "date"}
            check = f"({self.isinstance(date)} and not {self.isinstance(datetime)})"
            return _Typed(avro, None, "int", check)
        if issubclass(tp, time):
            avro = {"type": "long", "logicalType": "time-micros"}
            return _Typed(avro, None, "long", self.isinstance(time))
        if issubclass(tp, uuid.UUID):
            avro = {"type": "string", "logicalType": "uuid"}
            return _Typed(avro, None, "string", self.isinstance(uuid.UUID))
        if issubclass(tp, Decimal):
            return self.decimal(metadata, path)
        if issubclass(tp, _URL_TYPES):
            return _Typed("string", lambda v: f"str({v})", "string", self.isinstance(tp))
        raise self.fail(path, f"{tp.__name__} has no Avro form")

    def full(self, name: str) -> str:
        """Full name of a type named in this record (what fastavro's parsed schema uses)."""
        return f"{self.namespace}.{name}"

    def isinstance(self, tp: type) -> str:
        return f"isinstance(x, {self.helper(tp, 't')})"

    def decimal(self, metadata: Sequence[Any], path: str) -> _Typed:
        digits: int | None = None
        places: int | None = None
        for item in _flatten(metadata):
            if getattr(item, "max_digits", None) is not None:
                digits = item.max_digits
            if getattr(item, "decimal_places", None) is not None:
                places = item.decimal_places
        precision, scale = _decimal_shape(digits, places)
        if precision > MAX_DECIMAL_PRECISION or scale > precision:
            raise self.fail(path, f"decimal({precision}, {scale}) is beyond what Avro holds")
        avro = {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}
        check = self.helper(_decimal_check(precision, scale), "d")
        return _Typed(avro, lambda v: f"{check}({v})", "bytes", self.isinstance(Decimal))

    def enum(self, tp: type[Enum], path: str, hint: str) -> _Typed:
        values = [member.value for member in tp]
        check = self.isinstance(tp)
        if values and all(isinstance(v, str) and is_avro_name(v) for v in values):
            if tp in self.enums:
                name = self.enums[tp]
                return _Typed(name, lambda v: f"{v}.value", self.full(name), check)
            name = self.new_name(hint)
            self.enums[tp] = name
            avro = {"type": "enum", "name": name, "symbols": values}
            return _Typed(avro, lambda v: f"{v}.value", self.full(name), check)
        kinds = {_literal_type(v) for v in values}
        if len(kinds) != 1 or None in kinds:
            raise self.fail(path, f"{tp.__name__} mixes value types; Avro needs one")
        (primitive,) = kinds
        return _Typed(primitive, lambda v: f"{v}.value", str(primitive), check)

    def literal(self, values: tuple[Any, ...], path: str) -> _Typed:
        kinds = {_literal_type(v) for v in values if v is not None}
        if len(kinds) != 1 or None in kinds:
            raise self.fail(path, f"Literal{list(values)!r} mixes value types; Avro needs one")
        (avro,) = kinds
        check = {
            "string": "isinstance(x, str)",
            "long": "(type(x) is int)",
            "boolean": "(x is True or x is False)",
        }[str(avro)]
        typed = _Typed(avro, None, str(avro), check)
        if None in values:
            return self.optional(typed)
        return typed

    def array(
        self, annotation: Any, origin: Any, args: tuple[Any, ...], path: str, hint: str
    ) -> _Typed:
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                args = args[:1]
            elif len(set(args)) != 1:
                raise self.fail(path, f"{annotation!r}: Avro has arrays, not tuples of mixed types")
        if len(args) < 1:
            raise self.fail(path, f"{annotation!r} needs an item type")
        items = self.type_of(args[0], (), f"{path}[]", hint)
        n = self.next()
        expr: Expr | None
        if items.expr is not None:
            inner = items.expr(f"x{n}")
            expr = lambda v: f"[{inner} for x{n} in {v}]"  # noqa: E731
        elif origin is list:
            expr = None  # pydantic already made it a list
        else:
            expr = lambda v: f"list({v})"  # noqa: E731
        check = "isinstance(x, (list, tuple, set, frozenset))"
        return _Typed({"type": "array", "items": items.avro}, expr, "array", check)

    def mapping(self, args: tuple[Any, ...], path: str, hint: str) -> _Typed:
        if len(args) != 2 or args[0] is not str:
            raise self.fail(path, "Avro maps have string keys: use dict[str, T]")
        values = self.type_of(args[1], (), f"{path}{{}}", hint)
        expr: Expr | None = None
        if values.expr is not None:
            n = self.next()
            inner = values.expr(f"x{n}")
            expr = lambda v: f"{{k{n}: {inner} for k{n}, x{n} in {v}.items()}}"  # noqa: E731
        return _Typed({"type": "map", "values": values.avro}, expr, "map", "isinstance(x, dict)")

    def union(self, args: tuple[Any, ...], metadata: Sequence[Any], path: str, hint: str) -> _Typed:
        members = [a for a in args if a is not type(None)]
        nullable = len(members) < len(args)
        if len(members) == 1:
            typed = self.type_of(members[0], metadata, path, hint)
            return self.optional(typed) if nullable else typed
        typed_members = []
        for member in members:
            suffix = getattr(member, "__name__", "") if _is_model(member) else ""
            typed_members.append(
                self.type_of(member, metadata, path, f"{hint}_{suffix}" if suffix else hint)
            )
        seen: set[str] = set()
        for typed in typed_members:
            if isinstance(typed.avro, list):
                raise self.fail(path, "nested unions have no Avro form")
            if typed.branch in seen:
                raise self.fail(path, f"two members of the union are both Avro {typed.branch}")
            seen.add(typed.branch)
        # Pick the branch by Python type and hand fastavro (branch name, datum).
        function = f"_union{self.next()}"
        lines = [f"def {function}(x):"]
        if nullable:
            lines.append("    if x is None: return None")
        for typed in typed_members:
            datum = typed.expr("x") if typed.expr else "x"
            lines.append(f"    if {typed.check}: return ({typed.branch!r}, {datum})")
        lines.append("    raise ValueError(f'{type(x).__name__} is no member of the union')")
        self.sources.append("\n".join(lines) + "\n")
        avro = [*(["null"] if nullable else []), *(t.avro for t in typed_members)]
        return _Typed(avro, lambda v: f"{function}({v})", "union", "True")

    def optional(self, typed: _Typed) -> _Typed:
        if isinstance(typed.avro, list):
            raise self.fail("?", "nested unions have no Avro form")
        inner = typed.expr
        branch = typed.branch

        def expr(v: str) -> str:
            datum = inner(v) if inner else v
            return f"(None if {v} is None else ({branch!r}, {datum}))"

        return _Typed(["null", typed.avro], expr, "union", f"(x is None or {typed.check})")

    def next(self) -> int:
        self.counter += 1
        return self.counter


# -- helpers ------------------------------------------------------------------------


class _NoDefault:
    pass


_NO_DEFAULT: Any = _NoDefault()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _flatten(metadata: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for item in metadata:
        out.append(item)
        if isinstance(item, FieldInfo):
            out.extend(_flatten(item.metadata))
    return out


def _decimal_shape(digits: int | None, places: int | None) -> tuple[int, int]:
    if digits is not None and places is not None:
        return digits, places
    if digits is not None:
        return 2 * digits, digits  # any split of `digits` digits around the point fits
    if places is not None:
        return max(DEFAULT_DECIMAL[0], places), places
    return DEFAULT_DECIMAL


def _decimal_check(precision: int, scale: int) -> Callable[[Decimal], Decimal]:
    whole = precision - scale

    def check(value: Decimal) -> Decimal:
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or -exponent > scale:
            raise ValueError(f"{value} does not fit decimal({precision}, {scale})")
        if value and value.adjusted() + 1 > whole:
            raise ValueError(f"{value} does not fit decimal({precision}, {scale})")
        return value

    return check


def _literal_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, str):
        return "string"
    return None


def _json_default(value: Any, avro: Any) -> Any:
    """``value`` as the JSON default of a field of type ``avro``, or ``_NO_DEFAULT``."""
    if isinstance(value, Enum):
        value = value.value
    kind = avro.get("type") if isinstance(avro, dict) else avro
    logical = avro.get("logicalType") if isinstance(avro, dict) else None
    if kind == "null":
        return None if value is None else _NO_DEFAULT
    if value is None:
        return _NO_DEFAULT
    if logical == "timestamp-micros" and isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _MICROSECOND
    if logical == "date" and isinstance(value, date) and not isinstance(value, datetime):
        return (value - _EPOCH.date()).days
    if logical == "uuid" and isinstance(value, uuid.UUID | str):
        return str(value)
    if logical is not None:
        return _NO_DEFAULT
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "long" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "double" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind in ("string", "enum") and isinstance(value, str):
        return value
    if kind == "bytes" and isinstance(value, bytes):
        return value.decode("latin-1")  # Avro's JSON form of bytes: one code point per byte
    if kind == "array" and isinstance(value, list | tuple | set | frozenset):
        items = [_json_default(v, avro["items"]) for v in value]
        return _NO_DEFAULT if any(i is _NO_DEFAULT for i in items) else items
    if kind == "map" and isinstance(value, dict):
        pairs = {k: _json_default(v, avro["values"]) for k, v in value.items()}
        return _NO_DEFAULT if any(v is _NO_DEFAULT for v in pairs.values()) else pairs
    return _NO_DEFAULT


_MICROSECOND = datetime.resolution
