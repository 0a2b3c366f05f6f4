"""Cron schedules with time zones: parsing, ticks, and daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from weir.errors import ErrorCode, TriggerInvalidError
from weir.functions.cron import CronSchedule


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# -- parsing -------------------------------------------------------------------


def test_the_zone_is_optional_and_defaults_to_utc() -> None:
    plain = CronSchedule.parse("0 9 * * 1")
    assert plain.zone_name == "UTC"
    assert plain.expression == "0 9 * * 1"
    zoned = CronSchedule.parse("TZ=Europe/Paris   0  9 * * 1")
    assert zoned.zone_name == "Europe/Paris"
    assert zoned.expression == "0 9 * * 1"
    assert zoned.text == "TZ=Europe/Paris   0  9 * * 1"  # kept as written
    assert CronSchedule.parse("TZ=UTC 0 9 * * 1").key == plain.key


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("TZ=Mars/Olympus 0 9 * * *", "unknown time zone 'Mars/Olympus'"),
        ("TZ= 0 9 * * *", "unknown time zone ''"),
        ("TZ=../../etc/passwd 0 9 * * *", "unknown time zone"),
        ("0 9 * *", "has 4 field(s)"),
        ("0 0 9 * * 1 2030", "has 7 field(s)"),
        ("0 9 * * 1 2030", "not a valid cron expression"),  # six: seconds first
        ("TZ=Europe/Paris", "has 0 field(s)"),
        ("61 * * * *", "not a valid cron expression"),
        ("0 25 * * *", "not a valid cron expression"),
        ("0 9 * * funday", "not a valid cron expression"),
        ("0 0 30 2 *", "never fires"),
        ("", "is a string such as"),
        ("   ", "is a string such as"),
    ],
)
def test_bad_schedules_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(TriggerInvalidError) as excinfo:
        CronSchedule.parse(text)
    assert excinfo.value.code == ErrorCode.TRIGGER_INVALID
    assert says in excinfo.value.message


def test_a_schedule_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(TriggerInvalidError):
        CronSchedule.parse(None)
    with pytest.raises(TriggerInvalidError, match="at most"):
        CronSchedule.parse("0 9 * * 1" + " " * 300)


def test_naive_datetimes_are_refused() -> None:
    schedule = CronSchedule.parse("0 9 * * *")
    with pytest.raises(ValueError, match="aware"):
        schedule.next_after(datetime(2024, 1, 1))  # naive: the point of the test


# -- ticks ---------------------------------------------------------------------


def test_utc_ticks_are_strictly_after_and_at_or_before() -> None:
    schedule = CronSchedule.parse("0 9 * * *")
    assert schedule.next_after(utc(2024, 1, 1, 8, 59)) == utc(2024, 1, 1, 9)
    assert schedule.next_after(utc(2024, 1, 1, 9)) == utc(2024, 1, 2, 9)  # strictly after
    assert schedule.latest_at_or_before(utc(2024, 1, 1, 9)) == utc(2024, 1, 1, 9)  # at
    assert schedule.latest_at_or_before(utc(2024, 1, 1, 8, 59, 59)) == utc(2023, 12, 31, 9)
    assert schedule.latest_at_or_before(utc(2024, 1, 1, 9, 0, 0, 1)) == utc(2024, 1, 1, 9)


def test_results_are_in_utc_whatever_zone_the_input_has() -> None:
    schedule = CronSchedule.parse("TZ=Europe/Paris 0 9 * * *")
    tokyo = datetime(2024, 1, 10, 12, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 03:00 UTC
    tick = schedule.next_after(tokyo)
    assert tick == utc(2024, 1, 10, 8)
    assert tick.tzinfo is UTC


def test_a_paris_morning_job_follows_summer_time() -> None:
    schedule = CronSchedule.parse("TZ=Europe/Paris 0 9 * * 1")  # Mondays 09:00 in Paris
    assert schedule.next_after(utc(2024, 1, 3)) == utc(2024, 1, 8, 8)  # winter: UTC+1
    assert schedule.next_after(utc(2024, 7, 3)) == utc(2024, 7, 8, 7)  # summer: UTC+2
    # Across the change (Sunday 31 March 2024), the next Monday is already summer time.
    assert schedule.next_after(utc(2024, 3, 25, 8)) == utc(2024, 4, 1, 7)
    assert schedule.latest_at_or_before(utc(2024, 4, 1, 6, 59)) == utc(2024, 3, 25, 8)


def test_a_tick_in_the_skipped_hour_fires_once_when_the_clocks_jump() -> None:
    # 31 March 2024, Paris: 02:00 local becomes 03:00 (01:00 UTC); 02:30 never exists.
    daily = CronSchedule.parse("TZ=Europe/Paris 30 2 * * *")
    ticks = list(daily.ticks(utc(2024, 3, 29), utc(2024, 4, 2)))
    assert ticks == [
        utc(2024, 3, 29, 1, 30),
        utc(2024, 3, 30, 1, 30),
        utc(2024, 3, 31, 1, 0),  # the jump itself: 03:00 local
        utc(2024, 4, 1, 0, 30),
    ]
    # Every quarter of the skipped hour collapses onto the jump with 03:00: one tick.
    quarter = CronSchedule.parse("TZ=Europe/Paris */15 * * * *")
    ticks = list(quarter.ticks(utc(2024, 3, 31, 0, 30), utc(2024, 3, 31, 1, 20)))
    assert ticks == [utc(2024, 3, 31, 0, 45), utc(2024, 3, 31, 1), utc(2024, 3, 31, 1, 15)]
    assert quarter.next_after(utc(2024, 3, 31, 0, 45)) == utc(2024, 3, 31, 1)
    assert quarter.latest_at_or_before(utc(2024, 3, 31, 1, 0, 30)) == utc(2024, 3, 31, 1)


def test_a_repeated_hour_fires_once_at_its_first_occurrence() -> None:
    # 27 October 2024, Paris: 03:00 local goes back to 02:00; 02:30 happens twice.
    daily = CronSchedule.parse("TZ=Europe/Paris 30 2 * * *")
    ticks = list(daily.ticks(utc(2024, 10, 26), utc(2024, 10, 29)))
    assert ticks == [utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]
    # During the second 02:30 (01:30 UTC) the last tick is still the first one.
    assert daily.latest_at_or_before(utc(2024, 10, 27, 1, 45)) == utc(2024, 10, 27, 0, 30)
    assert daily.next_after(utc(2024, 10, 27, 1, 15)) == utc(2024, 10, 28, 1, 30)


def test_ticks_lists_missed_ticks_in_order_and_inclusive_of_the_end() -> None:
    schedule = CronSchedule.parse("0 */6 * * *")
    assert list(schedule.ticks(utc(2024, 1, 1), utc(2024, 1, 1, 18))) == [
        utc(2024, 1, 1, 6),
        utc(2024, 1, 1, 12),
        utc(2024, 1, 1, 18),
    ]
    assert list(schedule.ticks(utc(2024, 1, 1, 1), utc(2024, 1, 1, 5))) == []


# -- against a brute-force reference, around real transitions -------------------
#
# The reference follows the documented rule directly: a wall-clock match w
# fires at the first instant whose local time is at or past w. It walks every
# UTC minute of the window; the schedule must agree on every tick.

TRANSITIONS = [
    ("Europe/Paris", utc(2024, 3, 31)),  # forward 1 h at 02:00
    ("Europe/Paris", utc(2024, 10, 27)),  # back 1 h at 03:00
    ("America/New_York", utc(2024, 3, 10, 7)),
    ("America/New_York", utc(2024, 11, 3, 6)),
    ("Australia/Lord_Howe", utc(2024, 4, 6, 15)),  # back 30 min at 02:00
    ("Australia/Lord_Howe", utc(2024, 10, 5, 15)),  # forward 30 min at 02:00
    ("America/Santiago", utc(2024, 4, 7, 3)),  # back 1 h at midnight
    ("America/Santiago", utc(2024, 9, 8, 4)),  # forward 1 h at midnight
]
EXPRESSIONS = ["30 2 * * *", "*/15 * * * *", "0 * * * *", "0 0 * * *", "10 1-3 * * *"]


def reference_ticks(
    expression: str, zone: ZoneInfo, start: datetime, end: datetime
) -> list[datetime]:
    # The wall-clock matches, from croniter on naive times (no zone involved)...
    walls: set[datetime] = set()
    matches = croniter(expression, (start - timedelta(days=1)).replace(tzinfo=None))
    while (wall := matches.get_next(datetime)) <= (end + timedelta(days=1)).replace(tzinfo=None):
        walls.add(wall)
    # ...each fired at the first UTC minute whose local time reaches it.
    ticks: set[datetime] = set()
    highest: datetime | None = None  # the latest wall time reached so far
    instant = start
    while instant <= end:
        wall = instant.astimezone(zone).replace(tzinfo=None)
        if highest is not None and wall > highest:
            minute = highest + timedelta(minutes=1)
            while minute <= wall:  # every wall minute first reached now
                if minute in walls:
                    ticks.add(instant)
                minute += timedelta(minutes=1)
        highest = wall if highest is None else max(highest, wall)
        instant += timedelta(minutes=1)
    return sorted(ticks)


@pytest.mark.parametrize(("zone_name", "around"), TRANSITIONS)
def test_ticks_agree_with_the_reference_across_dst(zone_name: str, around: datetime) -> None:
    zone = ZoneInfo(zone_name)
    for expression in EXPRESSIONS:
        schedule = CronSchedule.parse(f"TZ={zone_name} {expression}")
        outer_start, outer_end = around - timedelta(days=3), around + timedelta(days=3)
        reference = reference_ticks(expression, zone, outer_start, outer_end)
        start, end = around - timedelta(hours=30), around + timedelta(hours=30)
        assert list(schedule.ticks(start, end)) == [t for t in reference if start < t <= end]
        probe = start
        while probe <= end:
            for t in (probe, probe + timedelta(seconds=1), probe - timedelta(microseconds=1)):
                expected_next = next(tick for tick in reference if tick > t)
                expected_last = max(tick for tick in reference if tick <= t)
                assert schedule.next_after(t) == expected_next, (expression, t)
                assert schedule.latest_at_or_before(t) == expected_last, (expression, t)
            probe += timedelta(minutes=37)


def test_a_leading_seconds_field_ticks_within_the_minute() -> None:
    schedule = CronSchedule.parse("*/20 * * * * *")
    t = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
    assert schedule.next_after(t) == datetime(2026, 3, 1, 12, 0, 20, tzinfo=UTC)
    assert schedule.latest_at_or_before(t) == datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert list(schedule.ticks(t, t + timedelta(minutes=1)))[:3] == [
        datetime(2026, 3, 1, 12, 0, s, tzinfo=UTC) for s in (20, 40)
    ] + [datetime(2026, 3, 1, 12, 1, 0, tzinfo=UTC)]
