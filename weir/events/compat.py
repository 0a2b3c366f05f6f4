"""Can a reader schema read data written with a writer schema? (Avro schema resolution)

Used by the in-memory registry (``weir.testing``) to refuse what a real
registry under BACKWARD compatibility refuses, with a reason per field.
Logical types are ignored, as Avro resolution ignores them.
"""

from __future__ import annotations

from typing import Any

from weir.events.names import short_name
from weir.events.validate import NAMED, PRIMITIVES, full_name

_KINDS = PRIMITIVES | NAMED | {"array", "map"}
_PROMOTIONS = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}


def incompatibilities(reader: Any, writer: Any) -> list[str]:
    """Why ``reader`` cannot read ``writer``'s data (empty: it can)."""
    checker = _Checker(_named(reader), _named(writer))
    checker.check(reader, writer, "")
    return checker.problems


def _named(schema: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def walk(node: Any, namespace: str | None) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch, namespace)
        elif isinstance(node, dict):
            kind = node.get("type")
            inner = namespace
            if kind in NAMED:
                name, inner = full_name(node, namespace)
                found[name] = node
                found.setdefault(short_name(name), node)
            if not isinstance(kind, str) or kind not in _KINDS:
                walk(kind, namespace)
            for field in node.get("fields", []):
                walk(field.get("type"), inner)
            for key in ("items", "values"):
                if key in node:
                    walk(node[key], inner)

    walk(schema, None)
    return found


class _Checker:
    def __init__(self, reader_named: dict[str, Any], writer_named: dict[str, Any]) -> None:
        self.reader_named = reader_named
        self.writer_named = writer_named
        self.problems: list[str] = []
        self.seen: set[tuple[int, int]] = set()

    def resolve(self, node: Any, named: dict[str, Any]) -> Any:
        while True:
            if isinstance(node, str) and node not in PRIMITIVES:
                node = named.get(node, named.get(short_name(node), node))
                if isinstance(node, str):
                    return node
            elif isinstance(node, dict) and not _is_kind(node.get("type")):
                node = node["type"]
            else:
                return node

    def check(self, reader: Any, writer: Any, path: str) -> None:
        reader = self.resolve(reader, self.reader_named)
        writer = self.resolve(writer, self.writer_named)
        pair = (id(reader), id(writer))
        if pair in self.seen:
            return  # recursive types: this pair is being checked further up
        self.seen.add(pair)
        where = path or "(root)"
        if isinstance(writer, list):
            for branch in writer:
                self.check(reader, branch, path)
            return
        if isinstance(reader, list):
            for branch in reader:
                probe = _Checker(self.reader_named, self.writer_named)
                probe.seen = set(self.seen)
                probe.check(branch, writer, path)
                if not probe.problems:
                    return
            self.problems.append(f"{where}: {_kind(writer)} cannot be read as {_label(reader)}")
            return
        rkind, wkind = _kind(reader), _kind(writer)
        if rkind != wkind:
            if (wkind, rkind) not in _PROMOTIONS:
                self.problems.append(f"{where}: {wkind} cannot be read as {rkind}")
            return
        if rkind in NAMED and short_name(str(reader["name"])) != short_name(str(writer["name"])):
            aliases = {short_name(a) for a in reader.get("aliases", [])}
            if short_name(str(writer["name"])) not in aliases:
                self.problems.append(
                    f"{where}: {rkind} {reader['name']} cannot read {wkind} {writer['name']}"
                )
                return
        if rkind == "record":
            self.record(reader, writer, path)
        elif rkind == "enum":
            missing = set(writer["symbols"]) - set(reader["symbols"])
            if missing and "default" not in reader:
                self.problems.append(f"{where}: enum lost the symbols {sorted(missing)}")
        elif rkind == "fixed" and reader.get("size") != writer.get("size"):
            self.problems.append(f"{where}: fixed size {writer['size']} became {reader['size']}")
        elif rkind == "array":
            self.check(reader["items"], writer["items"], f"{path}[]")
        elif rkind == "map":
            self.check(reader["values"], writer["values"], f"{path}{{}}")

    def record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        written = {f["name"]: f for f in writer.get("fields", [])}
        for field in reader.get("fields", []):
            name = field["name"]
            where = f"{path}.{name}" if path else name
            source = written.get(name)
            if source is None:
                for alias in field.get("aliases", []):
                    source = written.get(alias) or source
            if source is not None:
                self.check(field["type"], source["type"], where)
            elif "default" not in field:
                self.problems.append(f"{where}: new field without a default")


def _is_kind(value: Any) -> bool:
    return isinstance(value, str) and value in _KINDS


def _kind(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("type"))
    return str(schema)


def _label(schema: Any) -> str:
    if isinstance(schema, list):
        return " or ".join(_label(s) for s in schema)
    return _kind(schema)
