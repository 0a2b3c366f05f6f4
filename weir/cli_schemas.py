"""`weir schemas`: list, show and check event schemas against the registry.

* ``weir schemas list``: every subject with its latest version, schema id and
  whether the schema was inferred from JSON or made from an ``Event`` class.
* ``weir schemas show EVENT --as avro|python``: the registered schema, or
  Pydantic source a developer can paste (nested records, optional fields,
  lists, maps, enums, logical types), generated from it.
* ``weir schemas check FILE_OR_MODULE``: import it, find every ``Event``
  subclass, and ask the registry whether its schema is compatible with the
  registered one. Exit 0 when all are (or are not registered yet), 1 naming
  each incompatible event and why.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import keyword
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from weir.errors import (
    ConfigError,
    RegistryError,
    RegistryNotFoundError,
    RegistryUnavailableError,
    WeirError,
)
from weir.events.envelope import DATA_RECORD, EVENT_PROPERTY, data_record_of, is_inferred
from weir.events.model import Event
from weir.events.names import short_name, subject_for
from weir.settings import get_settings

# -- Avro schema -> Pydantic source -------------------------------------------------

_PRIMITIVE_PYTHON = {
    "null": "None",
    "boolean": "bool",
    "int": "int",
    "long": "int",
    "float": "float",
    "double": "float",
    "bytes": "bytes",
    "string": "str",
}
_LOGICAL_PYTHON = {
    "timestamp-millis": ("datetime", "datetime"),
    "timestamp-micros": ("datetime", "datetime"),
    "local-timestamp-millis": ("datetime", "datetime"),
    "local-timestamp-micros": ("datetime", "datetime"),
    "date": ("date", "datetime"),
    "time-millis": ("time", "datetime"),
    "time-micros": ("time", "datetime"),
    "uuid": ("UUID", "uuid"),
}


def pascal_case(text: str) -> str:
    """``cart.added`` -> ``CartAdded``; ``Data_items`` -> ``DataItems``."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
    name = "".join(w[0].upper() + w[1:] for w in words) or "Model"
    return name if name[0].isalpha() else f"M{name}"


def event_class_name(event_name: str) -> str:
    """``shop/cart.added`` -> ``CartAdded`` (the part after the last ``/``)."""
    return pascal_case(event_name.rsplit("/", 1)[-1])


def python_identifier(name: str) -> str:
    """An attribute name for an Avro field: itself, or with a ``_`` for a Python keyword."""
    return f"{name}_" if keyword.iskeyword(name) else name


@dataclass
class _Source:
    """Python source being assembled: imports and class blocks, dependencies first."""

    imports: dict[str, set[str]] = field(default_factory=dict)  # module -> names
    blocks: list[str] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)  # Avro full name -> class name
    taken: set[str] = field(default_factory=set)
    enums: set[str] = field(default_factory=set)  # class names that are enums

    def use(self, module: str, *names: str) -> None:
        self.imports.setdefault(module, set()).update(names)

    def claim(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.taken:
            name, n = f"{wanted}{n}", n + 1
        self.taken.add(name)
        return name


def _full_name(schema: dict[str, Any], namespace: str | None) -> tuple[str, str | None]:
    name = str(schema["name"])
    if "." in name:
        return name, name.rsplit(".", 1)[0]
    space = schema.get("namespace", namespace) or None
    return (f"{space}.{name}" if space else name), space


class PythonGenerator:
    """Turns an Avro schema into Pydantic classes (the event class last)."""

    def __init__(self) -> None:
        self.out = _Source()

    def event_module(self, schema: dict[str, Any], *, event: str, header: str) -> str:
        data = data_record_of(schema, subject=event)
        _outer, space = _full_name(schema, None)
        self.out.use("weir", "Event")
        self._record(data, space, self.out.claim(event_class_name(event)), event=event)
        return self.render(header)

    def plain_module(self, schema: Any, *, header: str) -> str:
        """Source for a schema that is not a Weir event: its records as BaseModels."""
        self._type(schema, None, "Record")
        return self.render(header)

    def render(self, header: str) -> str:
        groups: list[list[str]] = [[], [], []]  # standard library, pydantic, weir
        for module in sorted(self.out.imports):
            rank = 2 if module == "weir" else 1 if module == "pydantic" else 0
            names = ", ".join(sorted(self.out.imports[module]))
            groups[rank].append(f"from {module} import {names}")
        lines = [f'"""{header}"""', "", "from __future__ import annotations", ""]
        for statements in groups:
            if statements:
                lines.extend([*statements, ""])
        return "\n".join(lines) + "\n\n" + "\n\n\n".join(self.out.blocks) + "\n"

    # -- types ----------------------------------------------------------------------

    def _type(self, schema: Any, namespace: str | None, hint: str) -> str:
        if isinstance(schema, list):
            members = [self._type(s, namespace, hint) for s in schema]
            nullable = "None" in members
            members = [m for m in members if m != "None"]
            union = " | ".join(dict.fromkeys(members)) or "None"
            return f"{union} | None" if nullable and members else union
        if isinstance(schema, str):
            if schema in _PRIMITIVE_PYTHON:
                return _PRIMITIVE_PYTHON[schema]
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            known = self.out.classes.get(full) or self.out.classes.get(schema)
            if known is None:
                raise ConfigError(f"the schema refers to {schema!r}, which it never defines")
            return known
        if not isinstance(schema, dict):
            raise ConfigError(f"not an Avro schema: {schema!r}")
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical in _LOGICAL_PYTHON:
            python, module = _LOGICAL_PYTHON[logical]
            self.out.use(module, python)
            return python
        if logical == "decimal":
            self.out.use("decimal", "Decimal")
            self.out.use("typing", "Annotated")
            self.out.use("pydantic", "Field")
            precision, scale = schema.get("precision", 38), schema.get("scale", 0)
            return f"Annotated[Decimal, Field(max_digits={precision}, decimal_places={scale})]"
        if kind == "record" or kind == "error":
            full, _space = _full_name(schema, namespace)
            return self._record(schema, namespace, self.out.claim(_class_name(full)))
        if kind == "enum":
            return self._enum(schema, namespace)
        if kind == "array":
            return f"list[{self._type(schema['items'], namespace, hint)}]"
        if kind == "map":
            return f"dict[str, {self._type(schema['values'], namespace, hint)}]"
        if kind == "fixed":
            full, _space = _full_name(schema, namespace)
            self.out.classes[full] = "bytes"
            return "bytes"
        return self._type(kind, namespace, hint)

    def _record(
        self, schema: dict[str, Any], namespace: str | None, class_name: str, *, event: str = ""
    ) -> str:
        full, space = _full_name(schema, namespace)
        self.out.classes[full] = class_name  # before the fields: records may refer to themselves
        if event:
            head = f"class {class_name}(Event, name={_literal(event)}):"
        else:
            self.out.use("pydantic", "BaseModel")
            head = f"class {class_name}(BaseModel):"
        lines = [head]
        if schema.get("doc"):
            lines.extend([f"    {_docstring(str(schema['doc']))}", ""])
        body = [self._field(f, space, class_name) for f in schema.get("fields", [])]
        if not body and not schema.get("doc"):
            body = ["    pass"]
        self.out.blocks.append("\n".join(lines + body))
        return class_name

    def _field(self, spec: dict[str, Any], namespace: str | None, owner: str) -> str:
        avro_name = str(spec["name"])
        attribute = python_identifier(avro_name)
        annotation = self._type(spec["type"], namespace, f"{owner}_{avro_name}")
        options: list[str] = []
        default = ""
        if "default" in spec:
            default = self._default(spec["type"], spec["default"], namespace)
        if attribute != avro_name:
            options.append(f"alias={_literal(avro_name)}")
        if spec.get("doc"):
            options.append(f"description={_literal(spec['doc'])}")
        if options:
            self.out.use("pydantic", "Field")
            first = [default] if default else []
            return f"    {attribute}: {annotation} = Field({', '.join(first + options)})"
        return f"    {attribute}: {annotation}" + (f" = {default}" if default else "")

    def _default(self, schema: Any, value: Any, namespace: str | None) -> str:
        # A union's default belongs to its first branch (Avro's rule).
        branch = schema[0] if isinstance(schema, list) and schema else schema
        if value is None:
            return "None"
        if isinstance(branch, dict) and branch.get("type") in ("bytes", "fixed"):
            branch = "bytes"
        if branch == "bytes" and isinstance(value, str):
            return _literal(value.encode("latin-1"))  # Avro spells bytes defaults as code points
        named = self._named_class(branch, namespace)
        if named is not None and named in self.out.enums:
            return f"{named}.{_enum_member(str(value))}"
        if named is not None and named != "bytes":
            return f"{named}.model_validate({_literal(value)})"
        return _literal(value)

    def _named_class(self, schema: Any, namespace: str | None) -> str | None:
        if isinstance(schema, dict) and "name" in schema:
            return self.out.classes.get(_full_name(schema, namespace)[0])
        if isinstance(schema, str) and schema not in _PRIMITIVE_PYTHON:
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            return self.out.classes.get(full) or self.out.classes.get(schema)
        return None

    def _enum(self, schema: dict[str, Any], namespace: str | None) -> str:
        full, _space = _full_name(schema, namespace)
        name = self.out.claim(_class_name(full))
        self.out.classes[full] = name
        self.out.enums.add(name)
        self.out.use("enum", "StrEnum")
        lines = [f"class {name}(StrEnum):"]
        if schema.get("doc"):
            lines.extend([f"    {_docstring(str(schema['doc']))}", ""])
        for symbol in schema.get("symbols", []):
            lines.append(f"    {_enum_member(symbol)} = {_literal(symbol)}")
        self.out.blocks.append("\n".join(lines))
        return name


def _class_name(full_name: str) -> str:
    """``weir.events.x.Data_ship_to`` -> ``ShipTo``: the SDK names nested types by their
    path from the data record; the ``Data`` in front says nothing in Python."""
    name = short_name(full_name)
    if name.startswith(f"{DATA_RECORD}_") and len(name) > len(DATA_RECORD) + 1:
        name = name[len(DATA_RECORD) + 1 :]
    return pascal_case(name)


def _enum_member(symbol: str) -> str:
    return f"{symbol}_" if keyword.iskeyword(symbol) else symbol


def _literal(value: Any) -> str:
    """Python source for a JSON value, double-quoted like the formatter writes it."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        text = repr(value)
        return f'b"{text[2:-1]}"' if text.startswith("b'") and '"' not in text else text
    return repr(value)  # None, True/False, numbers


def _docstring(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""'


# -- the registry, as the CLI needs it ------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubjectVersion:
    subject: str
    version: int
    id: int
    schema: Any  # parsed JSON


class RegistryClient:
    """A small synchronous Confluent REST client: what the three commands need, no more."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def subjects(self) -> list[str]:
        found = self._call("GET", "/subjects")
        return sorted(str(s) for s in found) if isinstance(found, list) else []

    def version(self, subject: str, version: str = "latest") -> SubjectVersion:
        body = self._call("GET", f"/subjects/{_quote(subject)}/versions/{version}")
        return SubjectVersion(
            subject=subject,
            version=int(body["version"]),
            id=int(body["id"]),
            schema=json.loads(body["schema"]),
        )

    def incompatibilities(self, subject: str, schema: dict[str, Any]) -> list[str] | None:
        """Why ``schema`` may not follow the latest version: [] when it may, None if new."""
        try:
            # Asked first: some registries answer "compatible" for a subject they lack.
            self.version(subject)
        except RegistryNotFoundError:
            return None
        body = self._call(
            "POST",
            f"/compatibility/subjects/{_quote(subject)}/versions/latest?verbose=true",
            {"schema": json.dumps(schema)},
        )
        if body.get("is_compatible") is True:
            return []
        return [str(m) for m in body.get("messages") or ["incompatible (no reason given)"]]

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise _registry_error(exc, self.url) from None
        except (OSError, ValueError) as exc:
            raise RegistryUnavailableError(
                f"the schema registry at {self.url} did not answer: {exc}"
            ) from None


def _quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")  # event names hold '/'


def _registry_error(exc: urllib.error.HTTPError, url: str) -> WeirError:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    message = str(body.get("message") or exc.reason) if isinstance(body, dict) else str(exc.reason)
    code = body.get("error_code", exc.code) if isinstance(body, dict) else exc.code
    if exc.code == 404:
        return RegistryNotFoundError(message, error_code=int(code))
    if exc.code >= 500:
        return RegistryUnavailableError(
            f"the schema registry at {url} answered {exc.code}: {message}"
        )
    return RegistryError(message, error_code=int(code))


# -- finding Event classes ---------------------------------------------------------------


def load_target(target: str) -> ModuleType:
    """Import a ``.py`` file by path, or a module by dotted name (from the current folder)."""
    path = Path(target)
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise ConfigError(f"{target}: no such Python file")
        name = f"_weir_check_{abs(hash(path.resolve()))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{target}: cannot be imported as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pydantic look their module up here
        spec.loader.exec_module(module)
        return module
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{target}: neither a Python file nor an importable module ({exc})"
        ) from None


def event_classes(module: ModuleType) -> list[type[Event]]:
    """Every ``Event`` subclass the module defines or imports, in definition order."""
    found: dict[str, type[Event]] = {}
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Event) and value is not Event:
            name = event_name_of(value)
            if name is not None:
                found.setdefault(name, value)
    return list(found.values())


def event_name_of(cls: type[Event]) -> str | None:
    """The event name an ``Event`` subclass was declared with (None for abstract bases)."""
    return None if cls.abstract else cls.name


# -- the commands ----------------------------------------------------------------------------


def _registry(args: argparse.Namespace) -> RegistryClient:
    return RegistryClient(args.registry or get_settings().registry_url)


def _event_name(schema: Any, subject: str, prefix: str) -> str:
    if isinstance(schema, dict) and isinstance(schema.get(EVENT_PROPERTY), str):
        return str(schema[EVENT_PROPERTY])
    return subject[len(prefix) :] if prefix and subject.startswith(prefix) else subject


def list_command(args: argparse.Namespace) -> int:
    registry = _registry(args)
    prefix = get_settings().schema_subject_prefix
    rows = [("EVENT", "SUBJECT", "VERSION", "ID", "ORIGIN")]
    for subject in registry.subjects():
        latest = registry.version(subject)
        schema = latest.schema
        origin = "-"
        if isinstance(schema, dict) and EVENT_PROPERTY in schema:
            origin = "inferred" if is_inferred(schema) else "typed"
        name = _event_name(schema, subject, prefix)
        rows.append((name, subject, str(latest.version), str(latest.id), origin))
    if len(rows) == 1:
        print(f"no subjects in the registry at {registry.url}")
        return 0
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def show_command(args: argparse.Namespace) -> int:
    registry = _registry(args)
    subject = subject_for(args.event, get_settings().schema_subject_prefix)
    found = registry.version(subject, args.version)
    if args.format == "avro":
        print(json.dumps(found.schema, indent=2))
        return 0
    header = (
        f"Generated by `weir schemas show {args.event} --as python` from subject "
        f"{subject!r} version {found.version} (schema id {found.id})."
    )
    schema = found.schema
    if isinstance(schema, dict) and EVENT_PROPERTY in schema:
        print(PythonGenerator().event_module(schema, event=args.event, header=header), end="")
    else:
        print(PythonGenerator().plain_module(schema, header=header), end="")
    return 0


def _defined_in(cls: type[Event]) -> str:
    """The file that defines ``cls``, relative to the current folder when inside it."""
    try:
        source = Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):
        return cls.__module__
    try:
        return str(source.relative_to(Path.cwd()))
    except ValueError:
        return str(source)


def check_command(args: argparse.Namespace) -> int:
    registry = _registry(args)
    prefix = get_settings().schema_subject_prefix
    classes = event_classes(load_target(args.target))
    if not classes:
        print(f"{args.target}: no Event subclasses found")
        return 0
    failed = 0
    for cls in classes:
        name = event_name_of(cls) or cls.__name__
        problems = registry.incompatibilities(subject_for(name, prefix), cls.avro_schema())
        where = f"{_defined_in(cls)}:{cls.__qualname__}"
        if problems is None:
            print(f"new           {name}  ({where}): not registered yet")
        elif not problems:
            print(f"compatible    {name}  ({where})")
        else:
            failed += 1
            print(f"INCOMPATIBLE  {name}  ({where}):")
            for problem in problems:
                print(f"    - {problem}")
    if failed:
        print(
            f"{failed} event(s) incompatible with the registered schema: registering them "
            "would be refused; make the change compatible (e.g. add fields with defaults) "
            "or publish it under a new event name.",
            file=sys.stderr,
        )
        return 1
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``weir schemas`` on the CLI's subcommands."""
    schemas = sub.add_parser("schemas", help="list, show and check event schemas")
    schemas.add_argument("--registry", help="schema registry URL (default: WEIR_REGISTRY_URL)")
    actions = schemas.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="every subject with its latest version and id")
    listing.set_defaults(func=list_command)

    show = actions.add_parser("show", help="the registered schema of an event")
    show.add_argument("event", help="event name, e.g. shop/cart.added")
    show.add_argument(
        "--as", dest="format", choices=["avro", "python"], default="avro", help="output form"
    )
    show.add_argument("--version", default="latest", help="schema version (default: latest)")
    show.set_defaults(func=show_command)

    check = actions.add_parser(
        "check", help="check the Event classes of a file or module against the registry"
    )
    check.add_argument("target", help="path/to/events.py or a dotted module name")
    check.set_defaults(func=check_command)
