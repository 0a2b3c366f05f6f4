"""Cron schedules with time zones: ``"TZ=Europe/Paris 0 9 * * 1"`` -> the UTC instants it fires.

A schedule is an optional ``TZ=<IANA zone>`` prefix (UTC when absent) and a
five-field cron expression (minute, hour, day of month, month, day of week)
as croniter reads it, or six fields with a leading seconds field
(``*/10 * * * * *``: every ten seconds) for schedules finer than a minute.
The expression names times on the zone's wall clock, so a 09:00
Europe/Paris job is 08:00 UTC in winter and 07:00 UTC in summer.

Daylight saving time, decided once here:

- a wall-clock time that does not exist (the hour skipped when clocks go
  forward) fires at the moment the clocks jump, once: several such times and
  the first real time after the jump are one tick;
- a wall-clock time that happens twice (the hour repeated when clocks go
  back) fires once, at its first occurrence. An hourly job in a zone with
  DST therefore sees one gap of two hours a year; schedules that must keep a
  steady interval belong in UTC (the default).

With that rule every wall-clock match maps to one instant and the mapping
never goes backwards, so :meth:`CronSchedule.next_after` and
:meth:`CronSchedule.latest_at_or_before` are exact and a tick is never
produced twice. Everything in and out is an aware datetime in UTC. This
module is pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from weir.errors import TriggerInvalidError

CRON_MAX_LENGTH = 256
ZONE_PREFIX = "TZ="
DEFAULT_ZONE = "UTC"
_FIELDS = (5, 6)  # six: seconds first
_SECOND = timedelta(seconds=1)
# A fixed start for the "does it ever fire" check, so parsing stays pure.
_PROBE_START = datetime(2000, 1, 1)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed schedule; build it with :meth:`parse`."""

    text: str  # as written: what the cron event carries and the registration names
    zone_name: str
    expression: str  # the five fields, single-spaced

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)

    @property
    def key(self) -> tuple[str, str]:
        """What makes two schedules the same, however they were spaced or zoned by default."""
        return (self.zone_name, self.expression)

    @classmethod
    def parse(cls, text: object) -> CronSchedule:
        """The schedule ``text`` describes, or :class:`TriggerInvalidError` saying what is wrong."""
        if not isinstance(text, str) or not text.strip():
            raise TriggerInvalidError(
                f"a cron schedule is a string such as 'TZ=Europe/Paris 0 9 * * 1', not {text!r}"
            )
        if len(text) > CRON_MAX_LENGTH:
            raise TriggerInvalidError(f"a cron schedule is at most {CRON_MAX_LENGTH} characters")
        parts = text.split()
        zone_name = DEFAULT_ZONE
        if parts[0].startswith(ZONE_PREFIX):
            zone_name = parts.pop(0)[len(ZONE_PREFIX) :]
            _check_zone(zone_name, text)
        if len(parts) not in _FIELDS:
            raise TriggerInvalidError(
                f"cron schedule {text!r} has {len(parts)} field(s) after the zone; it needs "
                "5: minute hour day-of-month month day-of-week (e.g. '0 9 * * 1'), or 6 with "
                "a leading seconds field",
                detail={"cron": text},
            )
        schedule = cls(text=text, zone_name=zone_name, expression=" ".join(parts))
        try:
            _croniter(schedule.expression, _PROBE_START).get_next(datetime)
        except CroniterBadDateError:
            raise TriggerInvalidError(
                f"cron schedule {text!r} never fires (e.g. a day that no month has)",
                detail={"cron": text},
            ) from None
        except (ValueError, TypeError, KeyError) as exc:  # croniter's errors are ValueErrors
            reason = str(exc) if isinstance(exc, CroniterBadCronError) else type(exc).__name__
            raise TriggerInvalidError(
                f"cron schedule {text!r} is not a valid cron expression: {reason}",
                detail={"cron": text},
            ) from None
        return schedule

    # -- ticks ------------------------------------------------------------------

    def next_after(self, t: datetime) -> datetime:
        """The first tick strictly after ``t`` (an aware datetime), in UTC."""
        after = _utc(t)
        wall = after.astimezone(self.zone).replace(tzinfo=None, fold=0)
        # No wall time before ``wall`` maps past ``after``; a few after it may
        # map before it (the repeated hour), and are skipped.
        candidates = _croniter(self.expression, wall)
        while True:
            instant = self._instant(candidates.get_next(datetime))
            if instant > after:
                return instant

    def latest_at_or_before(self, t: datetime) -> datetime | None:
        """The last tick at or before ``t`` (an aware datetime), in UTC; None if there is none."""
        until = _utc(t)
        local = until.astimezone(self.zone)
        # In the second pass of a repeated hour, wall times up to an hour past
        # ``local`` still map to instants before ``until``: start above them.
        naive = local.replace(tzinfo=None, fold=0)
        first_pass_offset = naive.replace(tzinfo=self.zone).utcoffset() or timedelta(0)
        ahead = max(timedelta(0), first_pass_offset - (local.utcoffset() or timedelta(0)))
        start = (naive + ahead).replace(microsecond=0) + _SECOND
        candidates = _croniter(self.expression, start)
        try:
            while True:
                instant = self._instant(candidates.get_prev(datetime))
                if instant <= until:
                    return instant
        except CroniterBadDateError:  # nothing before: croniter ran out of past
            return None

    def ticks(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """Every tick in ``(after, until]``, in order (e.g. the ticks missed while down)."""
        current = self.next_after(after)
        end = _utc(until)
        while current <= end:
            yield current
            current = self.next_after(current)

    def _instant(self, wall: datetime) -> datetime:
        """The UTC instant a naive wall-clock match fires at (see the module docstring)."""
        zone = self.zone
        first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if first.astimezone(zone).replace(tzinfo=None) == wall:
            return first
        return _jump_instant(wall, zone)


def _jump_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """For a wall time in a skipped hour: the instant the clocks jumped over it."""
    # Read with the offsets before and after the jump, ``wall`` gives one
    # instant on each side of it; halve the interval down to the second.
    readings = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    low, high = readings
    before_offset = low.astimezone(zone).utcoffset()
    while high - low > _SECOND:
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before_offset:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _croniter(expression: str, start: datetime) -> croniter:
    return croniter(expression, start, second_at_beginning=True)


def _check_zone(zone_name: str, text: str) -> None:
    try:
        ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TriggerInvalidError(
            f"cron schedule {text!r} names an unknown time zone {zone_name!r}; use an IANA "
            "name such as 'Europe/Paris' or 'America/New_York'",
            detail={"cron": text},
        ) from None


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"cron ticks need an aware datetime, not the naive {t.isoformat()}")
    return t.astimezone(UTC)
