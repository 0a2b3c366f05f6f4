"""Which functions an event starts: the index of registered apps.

The gateway writes one ``AppRegistration`` per app to the compacted
functions topic (a tombstone removes the app). Every router process reads the
whole topic (no consumer group: registrations are small and every process
needs all of them) in a background thread, and keeps an index from event
name to the functions it triggers, with wildcard patterns kept apart so an
exact name costs one dict lookup.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.follow import TopicFollower
from weir.functions.config import FunctionConfig
from weir.functions.protocol import AppRegistration
from weir.functions.triggers import ResolvedTrigger, Trigger, resolve_triggers

log = logging.getLogger("weir.router.registrations")


@dataclass(frozen=True)
class Subscription:
    """One function of one app, ready to match events."""

    app_id: str
    url: str
    function: FunctionConfig
    triggers: tuple[ResolvedTrigger, ...]

    def matches(self, event: Mapping[str, Any]) -> bool:
        return any(trigger.matches(event) for trigger in self.triggers)


class RegistrationIndex:
    """Thread-safe index: event name -> subscriptions (exact names and patterns)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._apps: dict[str, AppRegistration] = {}
        self._by_function: dict[tuple[str, str], Subscription] = {}
        self._exact: dict[str, list[Subscription]] = {}
        self._patterned: list[Subscription] = []
        self._cron: list[tuple[Subscription, str]] = []
        self._cancel_paths: dict[str, set[str]] = {}

    def apply(self, app_id: str, registration: AppRegistration | None) -> None:
        """Replace (or remove, with None) one app's functions."""
        with self._lock:
            if registration is None:
                self._apps.pop(app_id, None)
            else:
                self._apps[app_id] = registration
            self._rebuild()

    def subscriptions_for(self, event: Mapping[str, Any]) -> list[Subscription]:
        name = event.get("name")
        if not isinstance(name, str):
            return []
        with self._lock:
            candidates = self._exact.get(name, []) + self._patterned
        return [sub for sub in candidates if sub.matches(event)]

    def function(self, app_id: str, function_id: str) -> Subscription | None:
        with self._lock:
            return self._by_function.get((app_id, function_id))

    def cron_functions(self) -> list[tuple[Subscription, str]]:
        """Every (function, cron expression) registered."""
        with self._lock:
            return list(self._cron)

    def cancel_paths(self, event_name: str) -> set[str]:
        """The match paths cancel_on rules use for ``event_name`` ('' for rules without one)."""
        with self._lock:
            return set(self._cancel_paths.get(event_name, ()))

    def _rebuild(self) -> None:
        exact: dict[str, list[Subscription]] = {}
        patterned: list[Subscription] = []
        by_function: dict[tuple[str, str], Subscription] = {}
        cron: list[tuple[Subscription, str]] = []
        cancel_paths: dict[str, set[str]] = {}
        for app in self._apps.values():
            for function in app.functions:
                triggers = tuple(
                    resolve_triggers(
                        [Trigger(t.event, t.filter) for t in function.triggers if t.event]
                    )
                    if any(t.event for t in function.triggers)
                    else []
                )
                sub = Subscription(app.app_id, app.url, function, triggers)
                by_function[(app.app_id, function.id)] = sub
                cron += [(sub, t.cron) for t in function.triggers if t.cron]
                for rule in function.cancel_on:
                    cancel_paths.setdefault(rule.event, set()).add(rule.match or "")
                names = {t.config.event for t in triggers if t.pattern is None and t.config.event}
                for name in names:
                    exact.setdefault(name, []).append(sub)
                if any(t.pattern is not None for t in triggers):
                    patterned.append(sub)
        self._exact, self._patterned, self._by_function = exact, patterned, by_function
        self._cron, self._cancel_paths = cron, cancel_paths


class RegistrationFollower(TopicFollower):
    """Keeps ``index`` equal to the functions topic."""

    def __init__(self, bootstrap: str, topic: str, index: RegistrationIndex) -> None:
        super().__init__(bootstrap, topic, self._apply)
        self.index = index

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        app_id = key.decode()
        if value is None:
            self.index.apply(app_id, None)
            return
        try:
            registration = AppRegistration.model_validate_json(value)
        except ValueError as exc:
            log.warning("ignoring an unreadable registration of %s: %s", app_id, exc)
            return
        self.index.apply(app_id, registration)
        count = len(registration.functions)
        log.info("app %s: %d functions at %s", app_id, count, registration.url)
