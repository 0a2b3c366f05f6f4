"""``weir/cron``: the event a cron-triggered run starts with (docs/protocol.md).

The router starts one run per tick of a function's cron trigger, with this
event; the function's ``ctx.event`` is decoded into :class:`CronTick`, so
``ctx.event.data.tick`` is an aware datetime in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import field_validator

from weir.events.model import Event
from weir.functions.config import CRON_EVENT


class CronTick(Event, name=CRON_EVENT):
    """One tick of a cron trigger: the schedule as written and the instant it was due."""

    cron: str
    tick: datetime

    @field_validator("tick")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # A tick is an instant: a naive one would be read in whatever zone the app runs in.
        if value.tzinfo is None:
            raise ValueError("a cron tick is an aware datetime (with its offset)")
        return value.astimezone(UTC)
