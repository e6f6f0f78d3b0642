"""The Durable SDK's timestamps parsed as ISO 8601 first, dateutil's parser only for the rest.

azure-functions-durable 1.7 parses every history event's `Timestamp` with dateutil's
general-purpose `parse`, about 70 us each, every time an orchestrator episode replays the
history, and two per status read: some 130 parses, 12-15 ms of the worker's CPU per delegation
turn (bench/README.md, "Cutting in the SDKs"). The host sends ISO 8601 (.NET's round-trip
format: seven fractional digits and `Z`), which `datetime.fromisoformat` turns into the same
datetime in about 1 us. `install` (function_app.py, at start-up) points the two SDK modules that
call `dt_parse` at `parse_timestamp`; tests/unit/test_durable_timestamps.py checks that they are
still the only callers and that both parsers agree.
"""

from __future__ import annotations

import importlib
from datetime import datetime

from dateutil.parser import parse as dateutil_parse

# The modules that do `from dateutil.parser import parse as dt_parse` and call it (by import
# path: each package re-exports a class of the module's name in its place).
SDK_MODULES = (
    "azure.durable_functions.models.history.HistoryEvent",
    "azure.durable_functions.models.DurableOrchestrationStatus",
)


def parse_timestamp(value: str) -> datetime:
    """`value` as ISO 8601, or as dateutil's parser reads it when it is not."""
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return dateutil_parse(value)


def install() -> None:
    """Have the SDK parse its timestamps with `parse_timestamp` (in this process)."""
    for name in SDK_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "dt_parse", None) not in (dateutil_parse, parse_timestamp):
            raise RuntimeError(f"{name} no longer parses timestamps with dt_parse")
        module.dt_parse = parse_timestamp  # type: ignore[attr-defined]
