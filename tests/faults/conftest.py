"""Fixtures of the fault-injection suite: the whole local system on the session Azurite."""

from __future__ import annotations

import pytest

from tests.system import start_system, stop_system


@pytest.fixture
def overrides() -> dict[str, str]:
    """Extra settings for one test (tests parametrize this fixture)."""
    return {}


@pytest.fixture
def system(start_host, loop_thread, azurite_env, azurite, overrides):
    # The agents register once at start: a heartbeat would undo a test's own registrations.
    running = start_system(
        start_host,
        loop_thread,
        azurite_env,
        azurite.connection_string,
        settings=overrides,
        heartbeat_seconds=3600,
    )
    yield running
    stop_system(running)
