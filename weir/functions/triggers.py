"""Triggers: which events start a function, by name, pattern or Event class, and filter.

``trigger=`` takes an event name (``"app/user.created"``), a pattern where
``*`` stands for one or more characters (``"app/user.*"``), an Event class,
a :class:`Trigger` (one of those plus a CEL filter), a :class:`Cron`
schedule, or a list of them. Each becomes a :class:`TriggerConfig` for
registration and a compiled :class:`ResolvedTrigger` that can tell whether
an event starts a run.

A cron trigger is started by the router's clock, never by an event on the
events topic: it matches no event, and only decodes the ``weir/cron`` event
its runs start with into :class:`~weir.functions.cron_tick.CronTick`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from weir.errors import TriggerInvalidError
from weir.functions.config import CRON_EVENT, TriggerConfig
from weir.functions.cron import CronSchedule
from weir.functions.cron_tick import CronTick
from weir.functions.events import event_name_of, is_event_class
from weir.functions.filters import EventFilter

PATTERN_MAX = 256
# Event name characters (weir/events/names.py) plus the wildcard.
_PATTERN_SYNTAX = re.compile(r"[A-Za-z0-9*][A-Za-z0-9_./:*-]*")


@dataclass(frozen=True)
class Trigger:
    """An event (name, pattern or Event class) with an optional CEL filter over ``event``."""

    event: str | type[Any]
    filter: str | None = None


@dataclass(frozen=True)
class Cron:
    """A cron schedule: ``Cron("TZ=Europe/Paris 0 9 * * 1")`` (zone optional, UTC by default)."""

    schedule: str


TriggerSpec = str | type[Any] | Trigger | Cron


@dataclass(frozen=True)
class ResolvedTrigger:
    """A trigger ready to match: its config, its Event class if any, its compiled parts."""

    config: TriggerConfig
    event_type: type[Any] | None
    pattern: re.Pattern[str] | None
    event_filter: EventFilter | None
    schedule: CronSchedule | None = None

    @property
    def key(self) -> tuple[str, ...]:
        """What two triggers of one function may not share."""
        if self.schedule is not None:
            return ("cron", *self.schedule.key)
        return ("event", str(self.config.event))

    def matches_name(self, name: str) -> bool:
        """Whether runs of this trigger carry events of this name (decoding ``ctx.event``)."""
        if self.schedule is not None:
            return name == CRON_EVENT
        if self.pattern is None:
            return name == self.config.event
        return self.pattern.fullmatch(name) is not None

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` starts a run through this trigger (never, for a cron trigger)."""
        if self.schedule is not None:
            return False
        name = event.get("name")
        if not isinstance(name, str) or not self.matches_name(name):
            return False
        return self.event_filter is None or self.event_filter.matches(event)


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """A regex for a wildcard pattern (None for a plain name); TriggerInvalidError if malformed."""
    if len(pattern) > PATTERN_MAX or _PATTERN_SYNTAX.fullmatch(pattern) is None:
        raise TriggerInvalidError(
            f"{pattern[:80]!r} is not an event name or pattern (1-{PATTERN_MAX} characters: "
            "letters, digits, _ . / : - and * as a wildcard; e.g. 'app/user.*')",
            detail={"trigger": pattern[:PATTERN_MAX]},
        )
    if "*" not in pattern:
        return None
    if not pattern.replace("*", ""):
        raise TriggerInvalidError(
            "a trigger pattern must name part of the event (e.g. 'app/*'), not only '*'"
        )
    return re.compile(".+".join(re.escape(part) for part in pattern.split("*")))


def resolve_triggers(
    spec: TriggerSpec | Sequence[TriggerSpec], *, default_filter: str | None = None
) -> list[ResolvedTrigger]:
    """Every trigger of a function, validated and compiled (raises on the first bad one)."""
    items: Sequence[TriggerSpec] = (
        list(spec) if isinstance(spec, Sequence) and not isinstance(spec, str) else [spec]
    )
    if not items:
        raise TriggerInvalidError("a function needs at least one trigger (trigger= or cron=)")
    return _without_duplicates([_resolve_one(item, default_filter) for item in items])


def resolve_trigger_configs(configs: Sequence[TriggerConfig]) -> list[ResolvedTrigger]:
    """Registered trigger configs compiled back (the router's side of a registration)."""
    return resolve_triggers(
        [
            Cron(config.cron)
            if config.cron is not None
            else Trigger(str(config.event), config.filter)
            for config in configs
        ]
    )


def _without_duplicates(resolved: list[ResolvedTrigger]) -> list[ResolvedTrigger]:
    keys = [trigger.key for trigger in resolved]
    duplicates = sorted({key[-1] for key in keys if keys.count(key) > 1})
    if duplicates:
        raise TriggerInvalidError(f"trigger listed twice: {', '.join(duplicates)}")
    return resolved


def _resolve_cron(item: Cron) -> ResolvedTrigger:
    schedule = CronSchedule.parse(item.schedule)
    return ResolvedTrigger(
        config=TriggerConfig(cron=schedule.text),
        event_type=CronTick,
        pattern=None,
        event_filter=None,
        schedule=schedule,
    )


def _resolve_one(item: TriggerSpec, default_filter: str | None) -> ResolvedTrigger:
    if isinstance(item, Cron):
        return _resolve_cron(item)
    trigger = item if isinstance(item, Trigger) else Trigger(item)
    expression = trigger.filter if trigger.filter is not None else default_filter
    target = trigger.event
    if isinstance(target, str):
        event_type = None
        name = target
    elif is_event_class(target):
        event_type = target
        name = event_name_of(target)
    else:
        raise TriggerInvalidError(
            "a trigger is an event name, a pattern, an Event class, a Trigger or a Cron, "
            f"not {target!r}"
        )
    pattern = compile_pattern(name)
    event_filter = EventFilter(expression) if expression is not None else None
    return ResolvedTrigger(
        config=TriggerConfig(event=name, filter=expression),
        event_type=event_type,
        pattern=pattern,
        event_filter=event_filter,
    )


def matching_trigger(
    triggers: Sequence[ResolvedTrigger], event: Mapping[str, Any]
) -> ResolvedTrigger | None:
    """The first trigger ``event`` starts a run through, if any (name and filter)."""
    for trigger in triggers:
        if trigger.matches(event):
            return trigger
    return None
