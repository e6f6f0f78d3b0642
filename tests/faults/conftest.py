"""Fixtures of the fault-injection suite: the whole local system on the session Azurite."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def system_options() -> dict[str, Any]:
    # The agents register once at start: a heartbeat would undo a test's own registrations.
    return {"heartbeat_seconds": 3600}
