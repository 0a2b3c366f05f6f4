"""Which (event name, match path) pairs waits use: what an event is probed under.

An incoming event is probed under one key per path that waits on its name
use (services/router/wait_keys.py). The pairs of wait steps are only known
when a run reaches one, so the router that first opens a wait on a new pair
writes it to the compacted wait-paths topic before the wait's index entry,
and every router follows that topic. The pairs of cancel_on rules come with
the registrations. Pairs are never removed: there are few of them, and a
stale one costs one probe per event of its name.
"""

from __future__ import annotations

import json
import logging
import threading

from services.common.follow import TopicFollower
from services.router.registrations import RegistrationIndex

log = logging.getLogger("weir.router.waits")


def pair_key(event_name: str, path: str) -> bytes:
    return json.dumps([event_name, path], separators=(",", ":")).encode()


class WaitPaths:
    """Thread-safe set of pairs, with the cancel_on pairs of the registrations."""

    def __init__(self, index: RegistrationIndex) -> None:
        self._index = index
        self._lock = threading.Lock()
        self._paths: dict[str, frozenset[str]] = {}

    def paths_for(self, event_name: str) -> frozenset[str]:
        with self._lock:
            known = self._paths.get(event_name, frozenset())
        cancel = self._index.cancel_paths(event_name)
        return known | cancel if cancel else known

    def known(self, event_name: str, path: str) -> bool:
        with self._lock:
            return path in self._paths.get(event_name, frozenset())

    def add(self, event_name: str, path: str) -> None:
        with self._lock:
            self._paths[event_name] = self._paths.get(event_name, frozenset()) | {path}

    def apply_record(self, key: bytes | None, _value: bytes | None) -> None:
        try:
            name, path = json.loads(key or b"")
        except (ValueError, TypeError):
            log.warning("ignoring an unreadable wait path %r", key)
            return
        self.add(str(name), str(path))

    def follower(self, bootstrap: str, topic: str) -> TopicFollower:
        return TopicFollower(bootstrap, topic, self.apply_record)
