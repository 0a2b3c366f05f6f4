"""Defining functions on the ``Weir`` client: ``@weir.function(...)`` and ``create_function``.

:class:`FunctionsMixin` is mixed into ``weir.client.Weir``; it keeps the
functions defined on that client so ``weir.fastapi.serve(app, weir)`` serves
them all. It needs nothing from the client but an ``app_id`` (and reads an
optional ``dev`` flag).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from weir.errors import FunctionDefinitionError
from weir.functions.cancellation import CancelOn
from weir.functions.checkpoint import Checkpoint
from weir.functions.config import DEFAULT_RETRIES, slugify
from weir.functions.function import Function, Handler, define_function
from weir.functions.timeouts import Timeouts
from weir.functions.triggers import TriggerSpec

CancelOnSpec = CancelOn | Sequence[CancelOn | Mapping[str, Any]]

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
        trigger: TriggerSpec | Sequence[TriggerSpec] | None = None,
        retries: int = DEFAULT_RETRIES,
        on_failure: Handler | None = None,
        name: str | None = None,
        filter: str | None = None,
        cron: str | Sequence[str] | None = None,
        cancel_on: CancelOnSpec | None = None,
        timeouts: Timeouts | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> Callable[[Handler], Function]:
        """Decorate a handler ``(ctx, step)`` (async or not) into a durable function.

        ``trigger`` is an event name, a pattern (``"app/user.*"``), an Event
        class, a ``Trigger(event, filter=...)``, a ``Cron(schedule)``, or a
        list of them; ``filter`` is a CEL expression over ``event`` for
        triggers without their own. ``cron`` adds cron schedules
        (``"TZ=Europe/Paris 0 9 * * 1"``); with it ``trigger`` may be left
        out. ``retries`` counts attempts after the first, per step.
        ``on_failure`` is a handler run with the ``weir/function.failed``
        event. ``cancel_on`` lists ``CancelOn(event, match=..., if_=...,
        timeout=...)`` entries; ``timeouts`` is ``Timeouts(start=...,
        finish=...)``.
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
                cron=cron,
                cancel_on=cancel_on,
                timeouts=timeouts,
                checkpoint=checkpoint,
            )
            self._add_function(made)
            return made

        return decorate

    def create_function(
        self,
        name: str,
        event_name: TriggerSpec | Sequence[TriggerSpec] | None,
        handler: Handler,
        *,
        retries: int = DEFAULT_RETRIES,
        on_failure: Handler | None = None,
        filter: str | None = None,
        cron: str | Sequence[str] | None = None,
        cancel_on: CancelOnSpec | None = None,
        timeouts: Timeouts | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> Function:
        """The zero-config form: ``create_function("Send welcome email", "app/user.created", h)``.

        The id is the name slugified (``send-welcome-email``). A cron
        function: ``create_function("Weekly report", None, h, cron="0 9 * * 1")``
        or ``create_function("Weekly report", Cron("0 9 * * 1"), h)``.
        """
        made = define_function(
            id=slugify(name),
            name=name,
            trigger=event_name,
            handler=handler,
            retries=retries,
            on_failure=on_failure,
            filter=filter,
            cron=cron,
            cancel_on=cancel_on,
            timeouts=timeouts,
            checkpoint=checkpoint,
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
