"""Defining functions on the ``Weir`` client: ``@weir.function(...)`` and ``create_function``.

:class:`FunctionsMixin` is mixed into ``weir.client.Weir``; it keeps the
functions defined on that client so ``weir.fastapi.serve(app, weir)`` serves
them all. It needs nothing from the client but an ``app_id`` (and reads an
optional ``dev`` flag).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from weir.errors import FunctionDefinitionError
from weir.functions.config import DEFAULT_RETRIES, slugify
from weir.functions.function import Function, Handler, define_function
from weir.functions.triggers import TriggerSpec

H = TypeVar("H", bound=Callable[..., Any])


class FunctionsMixin:
    """Function definition for the Weir client (``class Weir(FunctionsMixin, ...)``)."""

    @property
    def functions(self) -> list[Function]:
        """Every function defined on this client, in definition order."""
        return list(self._function_registry().values())

    def function(
        self,
        *,
        id: str,
        trigger: TriggerSpec | Sequence[TriggerSpec],
        retries: int = DEFAULT_RETRIES,
        on_failure: Handler | None = None,
        name: str | None = None,
        filter: str | None = None,
    ) -> Callable[[Handler], Function]:
        """Decorate a handler ``(ctx, step)`` (async or not) into a durable function.

        ``trigger`` is an event name, a pattern (``"app/user.*"``), an Event
        class, a ``Trigger(event, filter=...)``, or a list of them; ``filter``
        is a CEL expression over ``event`` for triggers without their own.
        ``retries`` counts attempts after the first, per step. ``on_failure``
        is a handler run with the ``weir/function.failed`` event.
        """

        def decorate(handler: Handler) -> Function:
            made = define_function(
                id=id,
                name=name,
                trigger=trigger,
                handler=handler,
                retries=retries,
                on_failure=on_failure,
                filter=filter,
            )
            self._add_function(made)
            return made

        return decorate

    def create_function(
        self,
        name: str,
        event_name: TriggerSpec | Sequence[TriggerSpec],
        handler: Handler,
        *,
        retries: int = DEFAULT_RETRIES,
        on_failure: Handler | None = None,
        filter: str | None = None,
    ) -> Function:
        """The zero-config form: ``create_function("Send welcome email", "app/user.created", h)``.

        The id is the name slugified (``send-welcome-email``).
        """
        made = define_function(
            id=slugify(name),
            name=name,
            trigger=event_name,
            handler=handler,
            retries=retries,
            on_failure=on_failure,
            filter=filter,
        )
        self._add_function(made)
        return made

    def _function_registry(self) -> dict[str, Function]:
        registry: dict[str, Function] | None = self.__dict__.get("_weir_functions")
        if registry is None:
            registry = {}
            self.__dict__["_weir_functions"] = registry
        return registry

    def _add_function(self, function: Function) -> None:
        registry = self._function_registry()
        taken = {member.id for existing in registry.values() for member in _members(existing)}
        for member in _members(function):
            if member.id in taken:
                raise FunctionDefinitionError(
                    f"a function with id {member.id!r} is already defined on this client",
                    detail={"function_id": member.id},
                )
        registry[function.id] = function


def _members(function: Function) -> list[Function]:
    return [function] + ([function.failure_handler] if function.failure_handler else [])
