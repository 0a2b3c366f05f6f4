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
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

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

    def _rebuild(self) -> None:
        exact: dict[str, list[Subscription]] = {}
        patterned: list[Subscription] = []
        by_function: dict[tuple[str, str], Subscription] = {}
        for app in self._apps.values():
            for function in app.functions:
                triggers = tuple(
                    resolve_triggers([Trigger(t.event, t.filter) for t in function.triggers])
                )
                sub = Subscription(app.app_id, app.url, function, triggers)
                by_function[(app.app_id, function.id)] = sub
                names = {t.config.event for t in triggers if t.pattern is None}
                for name in names:
                    exact.setdefault(name, []).append(sub)
                if any(t.pattern is not None for t in triggers):
                    patterned.append(sub)
        self._exact, self._patterned, self._by_function = exact, patterned, by_function


class RegistrationFollower:
    """Reads the functions topic from the start and keeps following it."""

    def __init__(self, bootstrap: str, topic: str, index: RegistrationIndex) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.index = index
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registrations", daemon=True)

    def start(self, wait: float = 30.0) -> None:
        """Start following; return once everything already in the topic is applied."""
        self._thread.start()
        if not self._caught_up.wait(wait):
            log.warning("registrations not caught up after %.0fs; going on", wait)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": "weir-router-registrations",  # required, never joined: assign()
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        try:
            meta = consumer.list_topics(self.topic, timeout=10).topics[self.topic]
            partitions = [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in meta.partitions]
            consumer.assign(partitions)
            at_end: set[int] = set()
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition() or 0)
                        if len(at_end) == len(partitions):
                            self._caught_up.set()
                    else:
                        log.warning("functions topic: %s", error)
                    continue
                self._apply(msg.key(), msg.value())
        except Exception:  # the router cannot route without registrations: say it loudly
            log.exception("registration follower stopped")
            time.sleep(1)
        finally:
            consumer.close()

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
