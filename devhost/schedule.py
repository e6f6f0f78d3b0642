"""Timer-trigger schedules: 6-field NCRONTAB expressions (seconds first) and TimeSpan intervals."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from croniter import croniter

_FIELD_NAMES = ("second", "minute", "hour", "day", "month", "day-of-week")
_MONTH_FIELD = 4
_DAY_OF_WEEK_FIELD = 5
_FIELD_CHARS = re.compile(r"[0-9A-Za-z*/,\-]+")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# TimeSpan.TryParse forms the host accepts: [d.]hh:mm[:ss[.fffffff]].
_TIMESPAN = re.compile(
    r"(?:(?P<days>[0-9]+)\.)?(?P<hours>[0-9]{1,2}):(?P<minutes>[0-9]{1,2})"
    r"(?::(?P<seconds>[0-9]{1,2})(?:\.(?P<fraction>[0-9]{1,7}))?)?"
)
_SETTING_REFERENCE = re.compile(r"%([^%\s]+)%")
# A fixed start for the parse-time probe, so validation does not depend on the clock.
_PROBE_START = datetime(2000, 1, 1, tzinfo=UTC)


def resolve_setting_reference(expression: str, environ: Mapping[str, str]) -> str:
    """Replace %NAME% app-setting references in a schedule with their values from environ."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ValueError(
                f"timer schedule {expression!r} refers to app setting '{name}', which is not set"
            )
        return environ[name]

    return _SETTING_REFERENCE.sub(lookup, expression)


def _require_utc(moment: datetime) -> datetime:
    """Return moment in UTC; reject naive datetimes, whose zone would be a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"schedule moment {moment!r} must be timezone-aware")
    return moment.astimezone(UTC)


class Schedule(ABC):
    """When a timer trigger fires: parse an expression, then ask for the next occurrence."""

    def __init__(self, expression: str) -> None:
        """Remember the expression this schedule was parsed from."""
        self.expression = expression

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.expression!r})"

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        """Parse an NCRONTAB expression or a TimeSpan 'hh:mm:ss'; raise ValueError if invalid."""
        text = expression.strip()
        if ":" in text:
            return IntervalSchedule(expression, _parse_timespan(expression, text))
        return CronSchedule(expression, _to_croniter(expression, text))

    @abstractmethod
    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after moment (timezone-aware), in UTC."""


class IntervalSchedule(Schedule):
    """A TimeSpan schedule: fires every interval, counted from the moment asked about."""

    def __init__(self, expression: str, interval: timedelta) -> None:
        """Create a schedule that fires every interval."""
        super().__init__(expression)
        self.interval = interval

    def next_after(self, moment: datetime) -> datetime:
        """Return moment plus the interval, in UTC."""
        return _require_utc(moment) + self.interval


class CronSchedule(Schedule):
    """An NCRONTAB schedule: {second} {minute} {hour} {day} {month} {day-of-week}, in UTC."""

    def __init__(self, expression: str, cron: str) -> None:
        """Create a schedule from expression, already normalised to croniter's syntax as cron."""
        super().__init__(expression)
        self._cron = cron
        self._next(_PROBE_START)

    def next_after(self, moment: datetime) -> datetime:
        """Return the first matching second strictly after moment, in UTC."""
        return self._next(_require_utc(moment))

    def _next(self, moment: datetime) -> datetime:
        """Ask croniter for the next match; NCRONTAB ANDs day and day-of-week, like day_or=False."""
        try:
            result = croniter(self._cron, moment, second_at_beginning=True, day_or=False).get_next(
                datetime
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"invalid timer schedule {self.expression!r}: {error}") from None
        return result.astimezone(UTC)


def _parse_timespan(expression: str, text: str) -> timedelta:
    """Parse a TimeSpan such as '00:00:30' or '1.00:00:00' into a positive timedelta."""
    match = _TIMESPAN.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid timer schedule {expression!r}: not a TimeSpan like 'hh:mm:ss' "
            "nor a 6-field NCRONTAB expression"
        )
    hours, minutes = int(match["hours"]), int(match["minutes"])
    seconds = int(match["seconds"] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(
            f"invalid timer schedule {expression!r}: TimeSpan hours must be 0-23, "
            "minutes and seconds 0-59"
        )
    interval = timedelta(
        days=int(match["days"] or 0),
        hours=hours,
        minutes=minutes,
        seconds=seconds,
        microseconds=int((match["fraction"] or "0").ljust(7, "0")) // 10,
    )
    if interval <= timedelta(0):
        raise ValueError(f"invalid timer schedule {expression!r}: the interval must not be zero")
    return interval


def _normalise_names(expression: str, field: str, names: tuple[str, ...], kind: str) -> str:
    """Replace month or day names with their three-letter form; NCRONTAB reads 3 letters."""

    def replace(match: re.Match[str]) -> str:
        word = match.group().lower()
        if len(word) < 3 or word[:3] not in names:
            raise ValueError(f"invalid timer schedule {expression!r}: unknown {kind} {word!r}")
        return word[:3]

    return re.sub(r"[A-Za-z]+", replace, field)


def _to_croniter(expression: str, text: str) -> str:
    """Validate a 6-field NCRONTAB expression and return it in the form croniter accepts."""
    fields = text.split()
    if len(fields) == 5:
        raise ValueError(
            f"invalid timer schedule {expression!r}: NCRONTAB needs 6 fields, seconds first "
            "('{second} {minute} {hour} {day} {month} {day-of-week}'), "
            f"for example '0 {text}'"
        )
    if len(fields) != 6:
        raise ValueError(
            f"invalid timer schedule {expression!r}: NCRONTAB needs 6 fields "
            f"('{{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}'), "
            f"got {len(fields)}"
        )
    normalised = []
    for position, field in enumerate(fields):
        name = _FIELD_NAMES[position]
        if not _FIELD_CHARS.fullmatch(field):
            raise ValueError(
                f"invalid timer schedule {expression!r}: {name} field {field!r} "
                "may only contain digits, names, '*', '/', ',' and '-'"
            )
        if position == _MONTH_FIELD:
            field = _normalise_names(expression, field, _MONTHS, "month")
        elif position == _DAY_OF_WEEK_FIELD:
            field = _normalise_names(expression, field, _DAYS, "day of week")
            # NCRONTAB's day-of-week is 0-6; croniter would silently take 7 as Sunday.
            for item in field.split(","):
                if any(int(number) > 6 for number in re.findall(r"[0-9]+", item.split("/")[0])):
                    raise ValueError(
                        f"invalid timer schedule {expression!r}: day-of-week values are 0-6"
                    )
        elif re.search(r"[A-Za-z]", field):
            raise ValueError(
                f"invalid timer schedule {expression!r}: {name} field {field!r} "
                "may not contain letters"
            )
        normalised.append(field)
    return " ".join(normalised)
