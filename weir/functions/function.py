"""A durable function: its registered config, its handler and its compiled triggers.

:func:`define_function` validates everything at definition time (import
time for decorated functions): the id, the retries, the triggers and their
CEL filters, the handler's shape, the on_failure handler. A mistake fails
there with a stable code instead of at the first event.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

from weir.errors import FunctionDefinitionError
from weir.functions.config import (
    FUNCTION_FAILED_EVENT,
    FunctionConfig,
    check_function_id,
    check_retries,
)
from weir.functions.context import Context
from weir.functions.failure import FunctionFailed, failure_filter, failure_function_id
from weir.functions.serialization import return_annotation
from weir.functions.step import Step, SyncStep
from weir.functions.triggers import (
    ResolvedTrigger,
    Trigger,
    TriggerSpec,
    matching_trigger,
    resolve_triggers,
)

AsyncHandler = Callable[[Context[Any], Step], Awaitable[Any]]
SyncHandler = Callable[[Context[Any], SyncStep], Any]
Handler = AsyncHandler | SyncHandler


class Function:
    """What ``@weir.function`` returns: serve it, test it with ``run_function``."""

    def __init__(
        self,
        config: FunctionConfig,
        handler: Handler,
        triggers: list[ResolvedTrigger],
        failure_handler: Function | None = None,
    ) -> None:
        self.config = config
        self.handler = handler
        self.triggers = triggers
        self.failure_handler = failure_handler
        self.is_async = inspect.iscoroutinefunction(handler)
        self.output_annotation = return_annotation(handler)

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def name(self) -> str:
        return self.config.name

    def trigger_for(self, event: Mapping[str, Any]) -> ResolvedTrigger | None:
        """The trigger through which ``event`` starts a run (name and filter), if any."""
        return matching_trigger(self.triggers, event)

    def event_type_for(self, event_name: str) -> type[Any] | None:
        """The Event class ``ctx.event`` is decoded into for this event name (None: raw)."""
        for trigger in self.triggers:
            if trigger.matches_name(event_name):
                return trigger.event_type
        return None

    def configs(self) -> list[FunctionConfig]:
        """This function's registration, followed by its failure handler's."""
        own = [self.config]
        return own + ([self.failure_handler.config] if self.failure_handler else [])

    def __repr__(self) -> str:
        return f"<Function {self.id!r} on {[t.config.event for t in self.triggers]}>"


def _check_handler(handler: object, what: str) -> Handler:
    if not callable(handler):
        raise FunctionDefinitionError(f"{what} must be a function taking (ctx, step)")
    try:
        inspect.signature(handler).bind(None, None)
    except (TypeError, ValueError):
        raise FunctionDefinitionError(
            f"{what} {getattr(handler, '__qualname__', handler)!r} must take two arguments: "
            "(ctx, step)"
        ) from None
    return cast(Handler, handler)


def define_function(
    *,
    id: str,
    name: str | None,
    trigger: TriggerSpec | Sequence[TriggerSpec],
    handler: object,
    retries: int,
    on_failure: object | None = None,
    filter: str | None = None,
) -> Function:
    """A validated :class:`Function` (FunctionDefinitionError and subclasses if not)."""
    function_id = check_function_id(id)
    checked = _check_handler(handler, "the handler")
    triggers = resolve_triggers(trigger, default_filter=filter)
    retries = check_retries(retries)
    label = name or str(getattr(handler, "__name__", function_id))
    failure = None
    if on_failure is not None:
        failure = _failure_function(function_id, label, _check_handler(on_failure, "on_failure"))
        failure_handler_id: str | None = failure.id
    else:
        failure_handler_id = None
    config = FunctionConfig(
        id=function_id,
        name=label,
        triggers=[t.config for t in triggers],
        retries=retries,
        on_failure=failure_handler_id,
    )
    return Function(config, checked, triggers, failure)


def _failure_function(function_id: str, label: str, handler: Handler) -> Function:
    triggers = resolve_triggers(Trigger(FUNCTION_FAILED_EVENT, filter=failure_filter(function_id)))
    # ctx.event of a failure handler is typed: FunctionFailed, data included.
    triggers = [
        ResolvedTrigger(t.config, FunctionFailed, t.pattern, t.event_filter) for t in triggers
    ]
    config = FunctionConfig(
        id=check_function_id(failure_function_id(function_id)),
        name=f"{label} (on failure)",
        triggers=[t.config for t in triggers],
        retries=0,
        failure_handler_for=function_id,
    )
    return Function(config, handler, triggers)
