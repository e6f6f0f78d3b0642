"""DEVHOST_ACTIVITY_FAULTS: activities delivered at least once, as Azure's backend may.

`once` calls `flaky(key)` a single time, without retry; `flaky` counts its runs per key and
returns "ok after N" (failing its first `key.split(":")[1]` runs), so the output tells which
run's completion the orchestration received and its attempts file how often it ran (in
whichever worker process)."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

from devhost.durable.history import EventType
from devhost.settings import SettingsError
from tests.devhost.conftest import APPS

# Where the durable app's `flaky` counts its runs, per task hub and key (its ATTEMPTS).
ATTEMPTS = Path(tempfile.gettempdir()) / "devhost-test-attempts"


def run_once(start_host, monkeypatch, faults: str, key: str) -> tuple[dict, int, object]:
    """Start the durable app with `faults`, run `once(key)`; (status, runs of flaky, instance)."""
    monkeypatch.setenv("DEVHOST_ACTIVITY_FAULTS", faults)
    host = start_host(APPS / "durable")
    instance_id = f"once-{uuid.uuid4().hex[:8]}"
    started = host.http.post("/api/orchestrators/once", params={"id": instance_id}, json=key)
    assert started.status_code == 202, started.text
    instance = host.wait(instance_id)
    status = host.http.get(f"/api/instances/{instance_id}").json()
    return status, settled_runs(host, key), instance


def settled_runs(host, key: str) -> int:
    """How often `flaky(key)` ran, once no run of it is still under way (a replayed run may
    still be going when the orchestration has finished)."""
    host.loop.run(host.engine.activities_settled(10))
    runs = ATTEMPTS / os.environ["TASKHUB_NAME"] / key
    return runs.stat().st_size if runs.exists() else 0


def completions(instance) -> list[int]:
    return [
        e["TaskScheduledId"]
        for e in instance.history
        if e["EventType"] in (EventType.TASK_COMPLETED, EventType.TASK_FAILED)
    ]


@pytest.mark.parametrize(
    ("faults", "key", "output", "runs"),
    [
        pytest.param("", "plain:0", "ok after 1", 1, id="without-faults-it-runs-once"),
        # The first run's result is delivered; a second run's result goes nowhere.
        pytest.param("replay", "replay:0", "ok after 1", 2, id="replay-delivers-the-first"),
        # The first completion is lost; the rerun's is delivered.
        pytest.param("drop", "drop:0", "ok after 2", 2, id="drop-delivers-the-rerun"),
        # The first run fails, that failure is lost, and the second run succeeds.
        pytest.param("drop", "drop-fail:1", "ok after 2", 2, id="a-dropped-failure-reruns"),
        pytest.param("replay, drop", "both:0", "ok after 2", 3, id="both-modes-together"),
    ],
)
def test_each_mode_delivers_one_completion(start_host, monkeypatch, faults, key, output, runs):
    status, ran, instance = run_once(start_host, monkeypatch, faults, key)

    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == output and ran == runs
    assert completions(instance) == [0]
    assert [e["EventType"] for e in instance.history].count(EventType.TASK_FAILED) == 0


def test_an_unknown_mode_stops_the_host(start_host, monkeypatch):
    monkeypatch.setenv("DEVHOST_ACTIVITY_FAULTS", "replay,twice")
    with pytest.raises(SettingsError, match="unknown mode.*twice"):
        start_host(APPS / "durable")
