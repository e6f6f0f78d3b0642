"""Tests for devhost.schedule: NCRONTAB (seconds first) and TimeSpan timer schedules."""

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from devhost.occupancy import Occupancy
from devhost.schedule import (
    CronSchedule,
    IntervalSchedule,
    Schedule,
    resolve_setting_reference,
)
from devhost.timers import TimerRunner


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def nxt(expression: str, moment: datetime) -> datetime:
    return Schedule.parse(expression).next_after(moment)


# --- NCRONTAB -----------------------------------------------------------------------------------


NEXT = [
    # (expression, after, next occurrence): seconds come first.
    ("*/30 * * * * *", at(2025, 1, 1, 12, 0, 10), at(2025, 1, 1, 12, 0, 30), "every-30-s"),
    ("*/30 * * * * *", at(2025, 1, 1, 12, 0, 45), at(2025, 1, 1, 12, 1, 0), "every-30-s-wraps"),
    # Strictly after the moment.
    ("*/30 * * * * *", at(2025, 1, 1, 12, 0, 30), at(2025, 1, 1, 12, 1, 0), "after-a-match"),
    ("0 0 9 * * *", at(2025, 1, 1, 9, 0, 0), at(2025, 1, 2, 9, 0, 0), "after-a-daily-match"),
    # A sub-second moment rounds up to the next match.
    ("*/30 * * * * *", at(2025, 1, 1, 12, 0, 29, 999999), at(2025, 1, 1, 12, 0, 30), "just-before"),
    ("*/30 * * * * *", at(2025, 1, 1, 12, 0, 30, 1), at(2025, 1, 1, 12, 1, 0), "just-after"),
    ("0 */5 * * * *", at(2025, 1, 1, 12, 3, 0), at(2025, 1, 1, 12, 5, 0), "every-5-min"),
    ("0 */5 * * * *", at(2025, 1, 1, 23, 59, 0), at(2025, 1, 2, 0, 0, 0), "every-5-min-next-day"),
    ("0 0 */2 * * *", at(2025, 1, 1, 1, 0, 0), at(2025, 1, 1, 2, 0, 0), "every-2-h"),
    ("0 0 */2 * * *", at(2025, 1, 1, 22, 0, 0), at(2025, 1, 2, 0, 0, 0), "every-2-h-next-day"),
    # 2025-01-03 is a Friday, so the next weekday run is Monday the 6th.
    ("0 30 9 * * 1-5", at(2025, 1, 3, 9, 30, 0), at(2025, 1, 6, 9, 30, 0), "weekdays-friday"),
    ("0 30 9 * * 1-5", at(2025, 1, 6, 9, 29, 59), at(2025, 1, 6, 9, 30, 0), "weekdays-monday"),
    # 2025-01-06 is a Monday: after its run, the next is a week later.
    ("0 0 9 * * MON", at(2025, 1, 6, 8, 0, 0), at(2025, 1, 6, 9, 0, 0), "monday-same-day"),
    ("0 0 9 * * MON", at(2025, 1, 6, 9, 0, 0), at(2025, 1, 13, 9, 0, 0), "monday-next-week"),
    ("0 0 9 * * mon", at(2025, 1, 8, 0, 0, 0), at(2025, 1, 13, 9, 0, 0), "monday-lower-case"),
    # Full day names are read by their first three letters.
    ("0 0 9 * * Monday", at(2025, 1, 8), at(2025, 1, 13, 9), "full-day-name"),
    # Sunday is 0 (2025-01-05 is a Sunday).
    ("0 0 0 * * 0", at(2025, 1, 1), at(2025, 1, 5), "sunday-is-0"),
    ("0 0 0 * * SUN", at(2025, 1, 1), at(2025, 1, 5), "sunday-by-name"),
    ("0 0 0 1 JAN *", at(2025, 6, 1), at(2026, 1, 1), "month-name-next-year"),
    ("0 0 0 1 jan,JUL *", at(2025, 6, 1), at(2025, 7, 1), "month-name-list"),
    ("0 0 0 1 MAR-MAY *", at(2025, 6, 1), at(2026, 3, 1), "month-name-range"),
    ("0 0 0 * * *", at(2025, 1, 31, 12), at(2025, 2, 1), "month-end"),
    ("59 59 23 31 12 *", at(2025, 6, 1), at(2025, 12, 31, 23, 59, 59), "last-second-of-year"),
    ("* * * * * *", at(2025, 12, 31, 23, 59, 59), at(2026, 1, 1), "year-end"),
    # Day 31 skips the short months; February 29 waits for a leap year.
    ("0 0 0 31 * *", at(2025, 4, 1), at(2025, 5, 31), "day-31-after-april"),
    ("0 0 0 31 * *", at(2025, 5, 31), at(2025, 7, 31), "day-31-after-may"),
    ("0 0 0 29 2 *", at(2025, 3, 1), at(2028, 2, 29), "february-29"),
    # NCRONTAB ANDs day and day of week (Vixie cron would OR them): Friday the 13th.
    ("0 0 0 13 * FRI", at(2025, 1, 1), at(2025, 6, 13), "friday-13th"),
    ("0 0 0 13 * 5", at(2025, 1, 1), at(2025, 6, 13), "friday-13th-by-number"),
    ("0 0 8-17/3 * * *", at(2025, 1, 1, 12), at(2025, 1, 1, 14), "range-with-step"),
    ("15,45 * * * * *", at(2025, 1, 1, 0, 0, 20), at(2025, 1, 1, 0, 0, 45), "list"),
    ("  0  0  9 * * *  ", at(2025, 1, 1), at(2025, 1, 1, 9), "extra-spaces"),
]


@pytest.mark.parametrize(
    ("expression", "moment", "expected"), [case[:3] for case in NEXT], ids=[c[3] for c in NEXT]
)
def test_next_occurrence(expression, moment, expected):
    assert nxt(expression, moment) == expected


def test_moment_in_other_zone_is_converted_to_utc():
    plus_two = timezone(timedelta(hours=2))
    moment = datetime(2025, 1, 1, 1, 0, 0, tzinfo=plus_two)  # 2024-12-31 23:00 UTC
    result = nxt("0 0 0 * * *", moment)
    assert result == at(2025, 1, 1)
    assert result.tzinfo == UTC


def test_result_is_utc():
    assert nxt("0 * * * * *", at(2025, 1, 1)).tzinfo == UTC


def test_naive_moment_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        Schedule.parse("0 * * * * *").next_after(datetime(2025, 1, 1))


def test_parse_returns_cron_schedule():
    schedule = Schedule.parse("0 */5 * * * *")
    assert isinstance(schedule, CronSchedule)
    assert schedule.expression == "0 */5 * * * *"
    assert "0 */5 * * * *" in repr(schedule)


def test_five_field_expression_is_rejected_with_hint():
    with pytest.raises(ValueError, match="NCRONTAB needs 6 fields, seconds first") as caught:
        Schedule.parse("*/5 * * * *")
    assert "'*/5 * * * *'" in str(caught.value)


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "*",
        "0 0 0 * * * 2025",
        "60 * * * * *",
        "* 60 * * * *",
        "* * 24 * * *",
        "* * * 32 * *",
        "* * * 0 * *",
        "* * * * 13 *",
        "* * * * * 7",
        "* * * * * 1-7",
        "* * * * FOO *",
        "* * * * * FOO",
        "* * * * * MO",
        "0 0 0 L * *",
        "0 0 0 ? * MON",
        "0 0 0 * * MON#2",
        "H * * * * *",
        "*/0 * * * * *",
        "0 0 0 30 2 *",
        "@daily",
        "a b c d e f",
    ],
)
def test_invalid_expressions_raise_naming_the_expression(expression):
    with pytest.raises(ValueError) as caught:
        Schedule.parse(expression)
    assert repr(expression) in str(caught.value)


# --- TimeSpan -----------------------------------------------------------------------------------


def test_timespan_runs_every_interval():
    schedule = Schedule.parse("00:00:30")
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.interval == timedelta(seconds=30)
    assert schedule.next_after(at(2025, 1, 1, 12, 0, 10)) == at(2025, 1, 1, 12, 0, 40)


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("01:00:00", timedelta(hours=1)),
        ("00:05:00", timedelta(minutes=5)),
        ("23:59:59", timedelta(hours=23, minutes=59, seconds=59)),
        ("1.00:00:00", timedelta(days=1)),
        ("00:30", timedelta(minutes=30)),
        ("00:00:00.5", timedelta(milliseconds=500)),
    ],
)
def test_timespan_forms(expression, interval):
    assert Schedule.parse(expression).interval == interval


def test_timespan_keeps_sub_second_moment_and_converts_to_utc():
    moment = datetime(2025, 1, 1, 1, 0, 0, 500, tzinfo=timezone(timedelta(hours=1)))
    result = Schedule.parse("00:01:00").next_after(moment)
    assert result == datetime(2025, 1, 1, 0, 1, 0, 500, tzinfo=UTC)
    assert result.tzinfo == UTC


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("00:00:00", "must not be zero"),
        ("0.00:00:00", "must not be zero"),
        ("24:00:00", "hours must be 0-23"),
        ("00:60:00", "minutes and seconds 0-59"),
        ("00:00:60", "minutes and seconds 0-59"),
        ("-00:00:30", "not a TimeSpan"),
        ("00:00:xx", "not a TimeSpan"),
        ("1:2:3:4", "not a TimeSpan"),
    ],
)
def test_invalid_timespans(expression, message):
    with pytest.raises(ValueError, match=message) as caught:
        Schedule.parse(expression)
    assert repr(expression) in str(caught.value)


# --- %NAME% app-setting references --------------------------------------------------------------


def test_whole_expression_setting_reference_is_resolved():
    environ = {"TIMER_SCHEDULE": "0 */5 * * * *"}
    assert resolve_setting_reference("%TIMER_SCHEDULE%", environ) == "0 */5 * * * *"


def test_expression_without_reference_is_unchanged():
    assert resolve_setting_reference("0 */5 * * * *", {}) == "0 */5 * * * *"
    assert resolve_setting_reference("00:00:30", {}) == "00:00:30"


def test_missing_setting_raises_naming_it():
    with pytest.raises(ValueError, match="'TIMER_SCHEDULE'"):
        resolve_setting_reference("%TIMER_SCHEDULE%", {"OTHER": "x"})


def test_resolved_setting_is_not_resolved_again():
    environ = {"A": "%B%", "B": "0 * * * * *"}
    assert resolve_setting_reference("%A%", environ) == "%B%"


def test_resolved_value_parses():
    expression = resolve_setting_reference("%SCHEDULE%", {"SCHEDULE": "*/30 * * * * *"})
    assert nxt(expression, at(2025, 1, 1, 12, 0, 10)) == at(2025, 1, 1, 12, 0, 30)


# --- the runner ---------------------------------------------------------------------------------


async def test_the_runner_fires_at_each_occurrence_of_the_schedule():
    now = at(2026, 12, 2, 12, 0, 0) + timedelta(milliseconds=300)
    slept: list[float] = []
    fired: list[datetime] = []
    enough = asyncio.Event()

    async def sleep(seconds: float) -> None:
        nonlocal now
        if len(fired) == 3:
            enough.set()
            await asyncio.Event().wait()  # parked until the runner stops
        slept.append(seconds)
        now += timedelta(seconds=seconds)

    class Invoker:
        occupancy = Occupancy()

        async def call_timer(self, info, client_json) -> None:
            fired.append(now)

    info = SimpleNamespace(
        name="every_second", trigger=SimpleNamespace(schedule="* * * * * *", run_on_startup=False)
    )
    runner = TimerRunner([info], Invoker(), lambda: "{}", {}, clock=lambda: now, sleep=sleep)
    runner.start()
    await asyncio.wait_for(enough.wait(), 5)
    await runner.stop()

    assert slept == pytest.approx([0.7, 1.0, 1.0])
    assert fired == [at(2026, 12, 2, 12, 0, second) for second in (1, 2, 3)]
