"""Trigger filters: Common Expression Language (CEL) over the triggering event.

A filter such as ``event.data.amount > 100 && event.data.currency == "EUR"``
is compiled when the function is defined, so a typo fails at import with
``filter_invalid`` instead of silently never matching. It is evaluated
against the event as JSON (``event.name``, ``event.id``, ``event.ts``,
``event.data``, ``event.user``), by the router before a run starts and by
the in-memory test executor.

The only free variable is ``event``. An expression that errors on a given
event (a missing field, a type mismatch) does not match it; guard optional
fields with ``has(event.data.x)``. A non-boolean result is an error too.
The implementation is cel-python (``celpy``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.celtypes import BoolType
from celpy.evaluation import CELEvalError
from lark import Token, Tree

from weir.errors import FilterInvalidError

log = logging.getLogger(__name__)

FILTER_MAX_LENGTH = 4096
EVENT_VARIABLE = "event"

# Macros whose first argument binds a new name inside the second (x.all(v, ...)).
_BINDING_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Names CEL itself defines (type names usable as values, e.g. type(x) == int).
_BUILTIN_NAMES = frozenset(
    {"bool", "bytes", "double", "duration", "int", "list", "map", "null_type", "string"}
    | {"timestamp", "type", "uint", "dyn", "google"}
)


@functools.lru_cache(maxsize=1)
def _environment() -> celpy.Environment:
    """Made on first use: building the CEL parser costs a noticeable part of a second."""
    return celpy.Environment()


class EventFilter:
    """One compiled filter; :meth:`matches` tells whether an event passes it."""

    def __init__(self, expression: str, *, variables: tuple[str, ...] = (EVENT_VARIABLE,)) -> None:
        if not isinstance(expression, str) or not expression.strip():
            raise FilterInvalidError("a filter is a non-empty CEL expression string")
        if len(expression) > FILTER_MAX_LENGTH:
            raise FilterInvalidError(f"a filter is at most {FILTER_MAX_LENGTH} characters")
        try:
            tree = _environment().compile(expression)
        except CELParseError as exc:
            raise FilterInvalidError(
                f"filter {expression!r} is not valid CEL: syntax error at line {exc.line}, "
                f"column {exc.column}",
                detail={"filter": expression, "line": exc.line, "column": exc.column},
            ) from None
        unknown = sorted(_free_names(tree) - set(variables) - _BUILTIN_NAMES)
        if unknown:
            raise FilterInvalidError(
                f"filter {expression!r} refers to {', '.join(unknown)}; its variables are "
                f"{', '.join(variables)} (e.g. event.data.amount > 10)",
                detail={"filter": expression},
            )
        self.expression = expression
        self._program = _environment().program(tree)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True when the filter holds for ``event`` (the event as JSON)."""
        return self.holds({EVENT_VARIABLE: event})

    def holds(self, variables: Mapping[str, Mapping[str, Any]]) -> bool:
        """True when the expression is true with these variables (each a JSON object)."""
        try:
            result = self._program.evaluate(
                {name: json_to_cel(dict(value)) for name, value in variables.items()}
            )
        except CELEvalError as exc:
            log.debug("filter %r does not match: %s", self.expression, exc.args[0])
            return False
        if not isinstance(result, BoolType):
            log.debug("filter %r returned %r, not a boolean", self.expression, result)
            return False
        return bool(result)


def _free_names(tree: Tree[Token]) -> set[str]:
    """Identifiers the expression reads, minus names bound by comprehension macros."""
    used: set[str] = set()
    bound: set[str] = set()
    for node in _subtrees(tree):
        if node.data == "primary" and node.children:
            head = node.children[0]
            if isinstance(head, Tree) and head.data == "ident" and head.children:
                used.add(str(head.children[0]))
        if node.data == "member_dot_arg" and len(node.children) >= 3:
            macro, args = node.children[1], node.children[2]
            if str(macro) in _BINDING_MACROS and isinstance(args, Tree) and args.children:
                first = args.children[0]
                bound.update(_ident_of(first))
    return used - bound


def _ident_of(node: object) -> set[str]:
    """The single identifier an expression consists of, if it is just one."""
    if not isinstance(node, Tree):
        return set()
    names = {
        str(sub.children[0]) for sub in _subtrees(node) if sub.data == "ident" and sub.children
    }
    return names if len(names) == 1 else set()


def _subtrees(node: Tree[Token]) -> Iterator[Tree[Token]]:
    yield from node.iter_subtrees()
