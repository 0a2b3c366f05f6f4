"""A durable function: its registered config, its handler and its compiled triggers.

:func:`define_function` validates everything at definition time (import
time for decorated functions): the id, the retries, the triggers and their
CEL filters, the cron schedules, the cancel_on entries, the timeouts, the
handler's shape, the on_failure handler. A mistake fails there with a stable
code instead of at the first event.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

from weir.errors import FunctionDefinitionError, TriggerInvalidError
from weir.functions.cancellation import CancelOn, resolve_cancel_on
from weir.functions.checkpoint import Checkpoint, resolve_checkpoint
from weir.functions.config import (
    FUNCTION_FAILED_EVENT,
    FunctionConfig,
    check_function_id,
    check_retries,
)
from weir.functions.context import Context
from weir.functions.cron import CronSchedule
from weir.functions.failure import FunctionFailed, failure_filter, failure_function_id
from weir.functions.serialization import return_annotation
from weir.functions.step import Step, SyncStep
from weir.functions.timeouts import Timeouts, resolve_timeouts
from weir.functions.triggers import (
    Cron,
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
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.config = config
        # App-side only: how many fast steps a call runs before answering.
        self.checkpoint = checkpoint or Checkpoint()
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
        """The Event class ``ctx.event`` is decoded into for this event name (None: raw).

        A trigger naming the event exactly wins over a pattern that also matches it.
        """
        matching = [t for t in self.triggers if t.matches_name(event_name)]
        candidates = [t for t in matching if t.pattern is None] or matching
        return candidates[0].event_type if candidates else None

    @property
    def schedules(self) -> list[CronSchedule]:
        """The cron schedules among this function's triggers, in the order given."""
        return [t.schedule for t in self.triggers if t.schedule is not None]

    def configs(self) -> list[FunctionConfig]:
        """This function's registration, followed by its failure handler's."""
        own = [self.config]
        return own + ([self.failure_handler.config] if self.failure_handler else [])

    def __repr__(self) -> str:
        on = [t.config.event or f"cron {t.config.cron}" for t in self.triggers]
        return f"<Function {self.id!r} on {on}>"


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
    trigger: TriggerSpec | Sequence[TriggerSpec] | None,
    handler: object,
    retries: int,
    on_failure: object | None = None,
    filter: str | None = None,
    cron: str | Sequence[str] | None = None,
    cancel_on: CancelOn | Sequence[CancelOn | Mapping[str, Any]] | None = None,
    timeouts: Timeouts | None = None,
    checkpoint: Checkpoint | None = None,
) -> Function:
    """A validated :class:`Function` (FunctionDefinitionError and subclasses if not).

    ``cron`` adds cron triggers to ``trigger`` (which may then be None).
    """
    function_id = check_function_id(id)
    checked = _check_handler(handler, "the handler")
    triggers = resolve_triggers(_trigger_specs(trigger, cron), default_filter=filter)
    if filter is not None and all(t.schedule is not None for t in triggers):
        raise TriggerInvalidError("filter= applies to event triggers; this function has only cron")
    cancel_configs = resolve_cancel_on(cancel_on)
    timeouts_config = resolve_timeouts(timeouts)
    checkpoint = resolve_checkpoint(checkpoint)
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
        cancel_on=cancel_configs,
        timeouts=timeouts_config,
    )
    return Function(config, checked, triggers, failure, checkpoint)


def _trigger_specs(
    trigger: TriggerSpec | Sequence[TriggerSpec] | None, cron: str | Sequence[str] | None
) -> list[TriggerSpec]:
    """``trigger`` and ``cron`` as one list of trigger specs."""
    specs: list[TriggerSpec] = []
    if trigger is not None:
        if isinstance(trigger, Sequence) and not isinstance(trigger, str):
            specs.extend(trigger)
        else:
            specs.append(trigger)
    if cron is not None:
        schedules = [cron] if isinstance(cron, str) else list(cron)
        for schedule in schedules:
            if not isinstance(schedule, str):
                raise TriggerInvalidError(
                    f"cron= takes a schedule string or a list of them, not {schedule!r}"
                )
            specs.append(Cron(schedule))
    return specs


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
