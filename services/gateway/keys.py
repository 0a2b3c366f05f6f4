"""Event keys: the secrets in ``POST /e/{key}`` that let a sender write events.

Keys come from the ``event_keys`` setting (comma separated). Every configured
key is compared in constant time, so response timing does not reveal how much
of a guess was right. In dev mode with no keys configured every key is
accepted (the README sends to ``/e/dev``); outside dev mode an empty key list
refuses everything rather than opening the gateway by accident.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from weir.errors import EventKeyInvalidError


class EventKeys:
    def __init__(self, keys: Iterable[str], *, dev: bool) -> None:
        self._keys = tuple(key.encode() for key in keys if key)
        self.accept_any = dev and not self._keys

    @classmethod
    def parse(cls, setting: str, *, dev: bool) -> EventKeys:
        """From the ``event_keys`` setting: ``"key1,key2"`` (spaces around keys ignored)."""
        return cls((part.strip() for part in setting.split(",")), dev=dev)

    def check(self, key: str) -> None:
        """Return when ``key`` may send events; raise a 401 problem otherwise."""
        if self.accept_any:
            return
        given = key.encode()
        # Compare against every key, without stopping early, so the time taken
        # does not tell which key (if any) came close.
        matched = False
        for known in self._keys:
            matched |= hmac.compare_digest(given, known)
        if not matched:
            raise EventKeyInvalidError(
                "unknown event key; use one of the keys configured in WEIR_EVENT_KEYS"
            )
