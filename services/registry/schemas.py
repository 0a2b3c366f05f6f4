"""Parsing Avro schemas and writing them in one normal form.

The registry gives the same id to the same schema however it was written
(whitespace, key order, short or full names, a redundant ``"order":
"ascending"``). Avro's Parsing Canonical Form would do that, but it also drops
defaults, docs and aliases, which change what a reader does; so the normal
form here keeps everything that matters and writes it one way: full names,
keys in a fixed order, custom properties sorted, no spaces.

Parsing is Apache Avro's own (``avro.schema``). Field defaults are checked
against their types here, because the parser leaves them unchecked.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import avro.errors
import avro.name
import avro.schema

from services.registry import errors
from services.registry.records import AVRO, Reference

# Unknown logical types are legal Avro (they fall back to the plain type);
# the parser warns about each one, which would only be noise in a server.
warnings.filterwarnings("ignore", category=avro.errors.IgnoredLogicalType)

SUPPORTED_TYPES = (AVRO,)
_NAMED = frozenset({"record", "error", "enum", "fixed"})
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


@dataclass(frozen=True)
class ParsedSchema:
    """A valid schema: its normal form, its references and Avro's parsed object."""

    schema_type: str
    canonical: str
    references: tuple[Reference, ...]
    avro: avro.schema.Schema

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.schema_type, self.canonical, self.references)


@dataclass(frozen=True)
class Dependency:
    """A referenced schema as stored: its text and its own references."""

    canonical: str
    references: tuple[Reference, ...]


# Finds the schema a reference points at (None if there is none).
Resolver = Callable[[Reference], Dependency | None]


def fingerprint(schema_type: str, canonical: str, references: Sequence[Reference]) -> str:
    """What makes two registered schemas "the same schema" (and so the same id)."""
    body = json.dumps([schema_type, canonical, [ref.to_json() for ref in references]])
    return hashlib.sha256(body.encode()).hexdigest()


def parse(
    text: str,
    schema_type: str = AVRO,
    references: Sequence[Reference] = (),
    resolve: Resolver | None = None,
) -> ParsedSchema:
    """Parse and check ``text``; raise 42201 (invalid schema) with the reason."""
    if schema_type not in SUPPORTED_TYPES:
        raise errors.invalid_schema(
            f"schemaType {schema_type} is not supported by Weir's registry; "
            f"supported: {', '.join(SUPPORTED_TYPES)}"
        )
    if not text.strip():
        raise errors.invalid_schema("Empty schema")
    names = avro.name.Names()
    _load_references(references, resolve, names, set())
    external = set(names.names)
    try:
        names.default_namespace = None
        parsed = avro.schema.make_avsc_object(json.loads(text), names)
    except json.JSONDecodeError as exc:
        raise errors.invalid_schema(f"Invalid schema: not JSON: {exc}") from exc
    except Exception as exc:  # the parser raises many kinds on malformed input
        raise errors.invalid_schema(f"Invalid schema: {exc}") from exc
    _check_defaults(parsed, set())
    canonical = json.dumps(_Writer(external).schema(parsed), separators=(",", ":"))
    return ParsedSchema(schema_type, canonical, tuple(references), parsed)


def _load_references(
    references: Sequence[Reference],
    resolve: Resolver | None,
    names: avro.name.Names,
    loaded: set[tuple[str, int]],
) -> None:
    """Parse every referenced schema (depth first, each once) into ``names``."""
    for ref in references:
        if (ref.subject, ref.version) in loaded:
            continue
        found = resolve(ref) if resolve else None
        if found is None:
            raise errors.invalid_schema(
                f"Invalid schema: reference {ref.name} to subject {ref.subject!r} "
                f"version {ref.version} not found"
            )
        _load_references(found.references, resolve, names, loaded)
        loaded.add((ref.subject, ref.version))
        try:
            names.default_namespace = None
            avro.schema.make_avsc_object(json.loads(found.canonical), names)
        except Exception as exc:
            raise errors.invalid_schema(
                f"Invalid schema: referenced schema {ref.subject!r} version {ref.version} "
                f"does not load alongside the others: {exc}"
            ) from exc


def _sorted_json(value: Any) -> Any:
    """``value`` with every object's keys sorted, so equal JSON writes equally."""
    if isinstance(value, dict):
        return {k: _sorted_json(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_json(v) for v in value]
    return value


def _qualify(alias: str, namespace: str | None) -> str:
    return alias if "." in alias or not namespace else f"{namespace}.{alias}"


class _Writer:
    """Writes a parsed schema in the normal form described in the module docstring."""

    def __init__(self, external: set[str]) -> None:
        # Names defined by references (or earlier in this schema) are written by name.
        self.seen = set(external)

    def schema(self, schema: avro.schema.Schema) -> Any:
        props: dict[str, Any] = dict(schema.props)
        kind = schema.type
        if isinstance(schema, avro.schema.UnionSchema):
            return [self.schema(branch) for branch in schema.schemas]
        if kind in _NAMED:
            return self._named(cast(avro.schema.NamedSchema, schema), props)
        out: dict[str, Any] = {"type": kind}
        if isinstance(schema, avro.schema.ArraySchema):
            out["items"] = self.schema(schema.items)
        elif isinstance(schema, avro.schema.MapSchema):
            out["values"] = self.schema(schema.values)
        extras = {k: v for k, v in props.items() if k not in ("type", "items", "values")}
        if not extras and len(out) == 1:
            return kind
        out.update(_sorted_json(extras))
        return out

    def _named(self, schema: avro.schema.NamedSchema, props: dict[str, Any]) -> Any:
        fullname = str(schema.fullname)
        if fullname in self.seen:
            return fullname
        self.seen.add(fullname)
        space = fullname.rpartition(".")[0] or None
        out: dict[str, Any] = {"type": schema.type, "name": fullname}
        if props.get("doc") is not None:
            out["doc"] = props["doc"]
        if props.get("aliases"):
            out["aliases"] = sorted(_qualify(str(a), space) for a in props["aliases"])
        if isinstance(schema, avro.schema.RecordSchema):
            out["fields"] = [self._field(field) for field in schema.fields]
        elif isinstance(schema, avro.schema.EnumSchema):
            out["symbols"] = list(schema.symbols)
            if props.get("default") is not None:
                out["default"] = props["default"]
        elif isinstance(schema, avro.schema.FixedSchema):
            out["size"] = props["size"]
        done = {"type", "name", "namespace", "doc", "aliases", "fields", "symbols", "size"}
        if isinstance(schema, avro.schema.EnumSchema):
            done.add("default")
        out.update(_sorted_json({k: v for k, v in props.items() if k not in done}))
        return out

    def _field(self, field: avro.schema.Field) -> dict[str, Any]:
        props: dict[str, Any] = dict(field.props)
        out: dict[str, Any] = {"name": field.name, "type": self.schema(field.type)}
        if props.get("doc") is not None:
            out["doc"] = props["doc"]
        if field.has_default:
            out["default"] = _sorted_json(props.get("default"))
        if props.get("order") not in (None, "ascending"):
            out["order"] = props["order"]
        if props.get("aliases"):
            out["aliases"] = sorted(str(a) for a in props["aliases"])
        done = {"name", "type", "doc", "default", "order", "aliases"}
        out.update(_sorted_json({k: v for k, v in props.items() if k not in done}))
        return out


def _check_defaults(schema: avro.schema.Schema, visited: set[str]) -> None:
    """Raise 42201 for a field whose default its type cannot hold."""
    if isinstance(schema, avro.schema.UnionSchema):
        for branch in schema.schemas:
            _check_defaults(branch, visited)
    elif isinstance(schema, avro.schema.ArraySchema):
        _check_defaults(schema.items, visited)
    elif isinstance(schema, avro.schema.MapSchema):
        _check_defaults(schema.values, visited)
    elif isinstance(schema, avro.schema.RecordSchema):
        if schema.fullname in visited:
            return
        visited.add(schema.fullname)
        for field in schema.fields:
            if field.has_default and not default_fits(field.type, field.default):
                raise errors.invalid_schema(
                    f"Invalid default for field {field.name!r} of {schema.fullname}: "
                    f"{json.dumps(field.default)} is not a {_describe(field.type)}"
                )
            _check_defaults(field.type, visited)


def _describe(schema: avro.schema.Schema) -> str:
    if isinstance(schema, avro.schema.UnionSchema):
        return f"{_describe(schema.schemas[0])} (a union's default takes its first type)"
    return str(schema.type)


def default_fits(schema: avro.schema.Schema, value: Any) -> bool:
    """Whether ``value``, a default as JSON, is a valid value of ``schema`` (Avro spec)."""
    kind = schema.type
    if isinstance(schema, avro.schema.UnionSchema):
        return default_fits(schema.schemas[0], value)
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in _INT_RANGE:
        low, high = _INT_RANGE[kind]
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if kind in ("float", "double"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind in ("bytes", "string"):
        return isinstance(value, str)
    if isinstance(schema, avro.schema.FixedSchema):
        return isinstance(value, str) and len(value) == schema.size
    if isinstance(schema, avro.schema.EnumSchema):
        return value in schema.symbols
    if isinstance(schema, avro.schema.ArraySchema):
        return isinstance(value, list) and all(default_fits(schema.items, v) for v in value)
    if isinstance(schema, avro.schema.MapSchema):
        return isinstance(value, dict) and all(
            default_fits(schema.values, v) for v in value.values()
        )
    if isinstance(schema, avro.schema.RecordSchema):
        return isinstance(value, dict) and all(
            default_fits(f.type, value[f.name]) if f.name in value else f.has_default
            for f in schema.fields
        )
    return False
