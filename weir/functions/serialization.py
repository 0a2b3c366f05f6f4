"""Step results and run outputs to JSON and back, typed by the code that made them.

A step's output is stored as JSON. When the step function declares a return
type, the stored JSON is validated back into that type on every replay, so a
function returning a Pydantic model (or a datetime, a list of models, ...)
gets the same type back from the memoized state. Without an annotation the
handler gets the plain JSON value.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from weir.errors import StepOutputInvalidError

# No declared return type: values go out as JSON and come back as plain JSON.
NO_ANNOTATION: Any = inspect.Signature.empty


# Resolved return types of plain functions, by code object: a step function
# defined inside a handler is a new object on every call, but its code (and
# so its annotation) is the same; resolving type hints is the costly part.
_RETURNS: dict[tuple[types.CodeType, int, Any], Any] = {}
_RETURNS_MAX = 4096


def return_annotation(fn: Callable[..., Any]) -> Any:
    """The type ``fn`` declares it returns (unwrapping async), or :data:`NO_ANNOTATION`."""
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if not isinstance(target, types.FunctionType):
        return _resolve_return(target)
    # The raw annotation is part of the key: a factory may give the same code
    # another return type on each call (``def make(t): def f() -> t``).
    key = (target.__code__, id(target.__globals__), target.__annotations__.get("return"))
    try:
        hash(key)
    except TypeError:
        return _resolve_return(target)
    if key not in _RETURNS:
        if len(_RETURNS) >= _RETURNS_MAX:
            _RETURNS.clear()
        _RETURNS[key] = _resolve_return(target)
    return _RETURNS[key]


def _resolve_return(target: Any) -> Any:
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # lambdas in odd scopes, builtins, callables without __annotations__
        return NO_ANNOTATION
    annotation = hints.get("return", NO_ANNOTATION)
    origin = typing.get_origin(annotation)
    if origin in (Awaitable, Coroutine) or (
        isinstance(origin, type) and issubclass(origin, Awaitable)
    ):
        args = typing.get_args(annotation)
        annotation = args[-1] if args else NO_ANNOTATION
    if annotation is type(None):
        return None
    return annotation


@functools.lru_cache(maxsize=512)
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _adapter_for(annotation: Any) -> TypeAdapter[Any] | None:
    if annotation is NO_ANNOTATION or annotation is Any:
        return None
    try:
        return _adapter(annotation)
    except TypeError:  # unhashable annotation object: build it uncached
        return TypeAdapter(annotation)


def to_json_value(value: Any, annotation: Any = NO_ANNOTATION) -> Any:
    """``value`` as plain JSON data; :class:`StepOutputInvalidError` if it has no JSON form."""
    try:
        adapter = _adapter_for(annotation)
        if adapter is not None:
            return adapter.dump_python(value, mode="json")
        return to_jsonable_python(value)
    except (PydanticSerializationError, ValueError, TypeError) as exc:
        raise StepOutputInvalidError(
            f"value of type {type(value).__name__} has no JSON form: {exc}"
        ) from None


def from_json_value(data: Any, annotation: Any = NO_ANNOTATION) -> Any:
    """Recorded JSON back into the declared type (plain JSON without one)."""
    adapter = _adapter_for(annotation)
    if adapter is None:
        return data
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise StepOutputInvalidError(
            f"recorded output does not fit the declared return type {annotation!r}: "
            f"{exc.error_count()} error(s), first: {exc.errors()[0]['msg']}"
        ) from None


def json_size(data: Any) -> int:
    """Bytes of ``data`` encoded as compact UTF-8 JSON (how limits are measured)."""
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
