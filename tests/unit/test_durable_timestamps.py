"""The Durable SDK's timestamps parsed as ISO 8601 first (voicea2a/durable_timestamps.py): the
same datetimes dateutil's parser gives, in every SDK module that parses them, from start-up."""

from __future__ import annotations

import importlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import azure.durable_functions
import pytest
from dateutil.parser import parse as dateutil_parse

from devhost.durable.history import timestamp
from tests.conftest import after_importing_the_app
from voicea2a import durable_timestamps
from voicea2a.durable_timestamps import SDK_MODULES, parse_timestamp

SDK = Path(azure.durable_functions.__file__).parent


def test_every_sdk_module_that_calls_dateutil_is_installed() -> None:
    callers = set()
    for path in SDK.rglob("*.py"):
        source = path.read_text()
        if "dateutil" in source:
            assert re.search(r"^from dateutil\.parser import parse as dt_parse$", source, re.M), (
                f"{path} uses dateutil otherwise"
            )
            module = path.relative_to(SDK.parent.parent).with_suffix("")
            callers.add(".".join(module.parts))
    assert callers == set(SDK_MODULES)


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-03T18:24:42.1234567Z",  # .NET's round-trip format, as the host sends it
        "2026-12-03T18:24:42.09Z",  # the same with its trailing zeros trimmed
        "2026-12-03T18:24:42.1Z",
        timestamp(datetime(2026, 12, 3, 18, 24, 42, 120034, tzinfo=UTC)),  # the devhost's
        "2026-12-03T18:24:42Z",
        "2026-12-03T18:24:42.123+00:00",
        "2026-12-03T20:24:42.5+02:00",
        "2026-12-03T18:24:42",
        "0001-01-01T00:00:00Z",  # a status's unset time
        "2026-12-03",
        "Thu, 03 Dec 2026 18:24:42 GMT",  # not ISO 8601: dateutil reads it
        "December 3, 2026 6:24 PM",
    ],
)
def test_it_reads_each_timestamp_as_dateutil_does(value: str) -> None:
    parsed = parse_timestamp(value)
    assert parsed == dateutil_parse(value)
    assert parsed.utcoffset() == dateutil_parse(value).utcoffset()


def test_install_points_the_sdk_at_it() -> None:
    modules = [importlib.import_module(name) for name in SDK_MODULES]
    durable_timestamps.install()
    assert all(module.dt_parse is parse_timestamp for module in modules)
    durable_timestamps.install()  # idempotent: the app may be imported again in one process
    history = importlib.import_module("azure.durable_functions.models.history.HistoryEvent")
    event = history.HistoryEvent(
        EventType=0, EventId=-1, IsPlayed=False, Timestamp="2026-12-03T18:24:42.1234567Z"
    )
    assert event.timestamp == datetime(2026, 12, 3, 18, 24, 42, 123456, tzinfo=UTC)
    assert event.timestamp.tzinfo == timezone(timedelta(0))


def test_the_app_installs_it_at_start_up() -> None:
    code = (
        "import importlib, json\n"
        f"names = {list(SDK_MODULES)!r}\n"
        "print(json.dumps([importlib.import_module(n).dt_parse.__module__ for n in names]))\n"
    )
    printed = after_importing_the_app(code)
    assert json.loads(printed) == ["voicea2a.durable_timestamps"] * len(SDK_MODULES)
