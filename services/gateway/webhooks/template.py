"""Templates that build an event name (or id) from a webhook request.

A template is literal text with placeholders in braces:

``{header:X-GitHub-Event}``
    a request header, matched case-insensitively;
``{body:data.object.id}``, ``{body:items[0].sku}``
    a value from the JSON body, by dotted keys and ``[n]`` array indexes;
``{query:kind}``
    a query-string parameter;
``{source}``
    the source name from the URL (``/webhooks/{source}``).

``{{`` and ``}}`` stand for literal braces. A placeholder must resolve to a
string, number or boolean; a missing header or field, or an object, makes the
request unmappable (422), because an event under a guessed name would be worse
than none. Templates are parsed when the gateway starts, so a typo in the
configuration stops it instead of failing requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weir.errors import ConfigError, WebhookUnmappableError

KINDS = ("header", "body", "query")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_KEY = r"[^.\[\]{}]+"
_INDEX = r"\[\d+\]"
_BODY_PATH = re.compile(rf"(?:{_KEY}|{_INDEX})(?:\.{_KEY}|{_INDEX})*")
_PATH_STEP = re.compile(rf"{_KEY}|{_INDEX}")


@dataclass(frozen=True, slots=True)
class RequestView:
    """What a template can read from a webhook request."""

    source: str
    headers: Mapping[str, str]  # case-insensitive (Starlette's Headers)
    query: Mapping[str, str]
    body: Any


@dataclass(frozen=True, slots=True)
class _Literal:
    text: str

    def render(self, _request: RequestView) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class _Lookup:
    kind: str  # "source", "header", "body" or "query"
    arg: str
    path: tuple[str | int, ...] = ()

    @property
    def spelled(self) -> str:
        return "{source}" if self.kind == "source" else f"{{{self.kind}:{self.arg}}}"

    def render(self, request: RequestView) -> str:
        value: Any
        if self.kind == "source":
            value = request.source
        elif self.kind == "header":
            value = request.headers.get(self.arg)
        elif self.kind == "query":
            value = request.query.get(self.arg)
        else:
            value = _walk(request.body, self.path)
        if value is None:
            raise WebhookUnmappableError(
                f"{self.spelled} has no value in this request", detail={"placeholder": self.spelled}
            )
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise WebhookUnmappableError(
            f"{self.spelled} is an object or array, not a string, number or boolean",
            detail={"placeholder": self.spelled},
        )


def _walk(document: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(document, list) or step >= len(document):
                return None
        elif not isinstance(document, dict):
            return None
        document = document[step] if isinstance(step, int) else document.get(step)
    return document


def parse_body_path(spec: str) -> tuple[str | int, ...]:
    """``data.items[0].sku`` -> ``("data", "items", 0, "sku")``."""
    if not _BODY_PATH.fullmatch(spec):
        raise ConfigError(f"body path {spec!r} is not of the form a.b[0].c")
    return tuple(
        int(step[1:-1]) if step.startswith("[") else step for step in _PATH_STEP.findall(spec)
    )


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    parts: tuple[_Literal | _Lookup, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        parts: list[_Literal | _Lookup] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            if match.start() > position:
                parts.append(_Literal(text[position : match.start()]))
            position = match.end()
            token = match.group(0)
            if token in ("{{", "}}"):
                parts.append(_Literal(token[0]))
            elif match.group(1) is None:
                raise ConfigError(f"template {text!r}: unmatched {token!r} (write {token * 2})")
            else:
                parts.append(_lookup(text, match.group(1)))
        if position < len(text):
            parts.append(_Literal(text[position:]))
        return cls(text, tuple(parts))

    def render(self, request: RequestView) -> str:
        return "".join(part.render(request) for part in self.parts)


def _lookup(template: str, inner: str) -> _Lookup:
    if inner == "source":
        return _Lookup("source", "")
    kind, colon, arg = inner.partition(":")
    if not colon or kind not in KINDS or not arg:
        raise ConfigError(
            f"template {template!r}: {{{inner}}} is not one of {{source}}, "
            "{header:Name}, {body:path} or {query:name}"
        )
    return _Lookup(kind, arg, parse_body_path(arg) if kind == "body" else ())
