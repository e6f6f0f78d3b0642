"""Tests for devhost.schedule: NCRONTAB (seconds first) and TimeSpan timer schedules."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from devhost.schedule import (
    CronSchedule,
    IntervalSchedule,
    Schedule,
    resolve_setting_reference,
)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def nxt(expression: str, moment: datetime) -> datetime:
    return Schedule.parse(expression).next_after(moment)


# --- NCRONTAB -----------------------------------------------------------------------------------


def test_every_30_seconds_seconds_field_first():
    assert nxt("*/30 * * * * *", at(2025, 1, 1, 12, 0, 10)) == at(2025, 1, 1, 12, 0, 30)
    assert nxt("*/30 * * * * *", at(2025, 1, 1, 12, 0, 45)) == at(2025, 1, 1, 12, 1, 0)


def test_next_is_strictly_after_moment():
    assert nxt("*/30 * * * * *", at(2025, 1, 1, 12, 0, 30)) == at(2025, 1, 1, 12, 1, 0)
    assert nxt("0 0 9 * * *", at(2025, 1, 1, 9, 0, 0)) == at(2025, 1, 2, 9, 0, 0)


def test_sub_second_moment_rounds_up_to_next_match():
    moment = datetime(2025, 1, 1, 12, 0, 29, 999999, tzinfo=UTC)
    assert nxt("*/30 * * * * *", moment) == at(2025, 1, 1, 12, 0, 30)
    moment = datetime(2025, 1, 1, 12, 0, 30, 1, tzinfo=UTC)
    assert nxt("*/30 * * * * *", moment) == at(2025, 1, 1, 12, 1, 0)


def test_every_five_minutes():
    assert nxt("0 */5 * * * *", at(2025, 1, 1, 12, 3, 0)) == at(2025, 1, 1, 12, 5, 0)
    assert nxt("0 */5 * * * *", at(2025, 1, 1, 23, 59, 0)) == at(2025, 1, 2, 0, 0, 0)


def test_every_two_hours():
    assert nxt("0 0 */2 * * *", at(2025, 1, 1, 1, 0, 0)) == at(2025, 1, 1, 2, 0, 0)
    assert nxt("0 0 */2 * * *", at(2025, 1, 1, 22, 0, 0)) == at(2025, 1, 2, 0, 0, 0)


def test_weekdays_at_half_past_nine():
    # 2025-01-03 is a Friday, so the next weekday run is Monday the 6th.
    assert nxt("0 30 9 * * 1-5", at(2025, 1, 3, 9, 30, 0)) == at(2025, 1, 6, 9, 30, 0)
    assert nxt("0 30 9 * * 1-5", at(2025, 1, 6, 9, 29, 59)) == at(2025, 1, 6, 9, 30, 0)


def test_monday_at_nine_rolls_over_to_next_week():
    # 2025-01-06 is a Monday.
    assert nxt("0 0 9 * * MON", at(2025, 1, 6, 8, 0, 0)) == at(2025, 1, 6, 9, 0, 0)
    assert nxt("0 0 9 * * MON", at(2025, 1, 6, 9, 0, 0)) == at(2025, 1, 13, 9, 0, 0)
    assert nxt("0 0 9 * * mon", at(2025, 1, 8, 0, 0, 0)) == at(2025, 1, 13, 9, 0, 0)


def test_full_day_names_are_read_by_first_three_letters():
    assert nxt("0 0 9 * * Monday", at(2025, 1, 8)) == at(2025, 1, 13, 9)


def test_sunday_is_zero():
    # 2025-01-05 is a Sunday.
    assert nxt("0 0 0 * * 0", at(2025, 1, 1)) == at(2025, 1, 5)
    assert nxt("0 0 0 * * SUN", at(2025, 1, 1)) == at(2025, 1, 5)


def test_month_names_and_year_rollover():
    assert nxt("0 0 0 1 JAN *", at(2025, 6, 1)) == at(2026, 1, 1)
    assert nxt("0 0 0 1 jan,JUL *", at(2025, 6, 1)) == at(2025, 7, 1)
    assert nxt("0 0 0 1 MAR-MAY *", at(2025, 6, 1)) == at(2026, 3, 1)


def test_month_end_rollover():
    assert nxt("0 0 0 * * *", at(2025, 1, 31, 12)) == at(2025, 2, 1)
    assert nxt("59 59 23 31 12 *", at(2025, 6, 1)) == at(2025, 12, 31, 23, 59, 59)
    assert nxt("* * * * * *", at(2025, 12, 31, 23, 59, 59)) == at(2026, 1, 1)


def test_day_31_skips_short_months():
    assert nxt("0 0 0 31 * *", at(2025, 4, 1)) == at(2025, 5, 31)
    assert nxt("0 0 0 31 * *", at(2025, 5, 31)) == at(2025, 7, 31)


def test_february_29_waits_for_leap_year():
    assert nxt("0 0 0 29 2 *", at(2025, 3, 1)) == at(2028, 2, 29)


def test_day_and_day_of_week_both_must_match():
    # NCRONTAB ANDs the two fields (Vixie cron would OR them): Friday the 13th.
    assert nxt("0 0 0 13 * FRI", at(2025, 1, 1)) == at(2025, 6, 13)
    assert nxt("0 0 0 13 * 5", at(2025, 1, 1)) == at(2025, 6, 13)


def test_lists_ranges_and_steps():
    assert nxt("0 0 8-17/3 * * *", at(2025, 1, 1, 12)) == at(2025, 1, 1, 14)
    assert nxt("15,45 * * * * *", at(2025, 1, 1, 0, 0, 20)) == at(2025, 1, 1, 0, 0, 45)


def test_surrounding_whitespace_and_extra_spaces_are_accepted():
    assert nxt("  0  0  9 * * *  ", at(2025, 1, 1)) == at(2025, 1, 1, 9)


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
