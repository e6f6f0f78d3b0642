"""DEVHOST_ACTIVITY_FAULTS: activities delivered at least once, as Azure's backend may.

`once` calls `flaky(key)` a single time, without retry; `flaky` counts its runs per key and
returns "ok after N" (failing its first `key.split(":")[1]` runs), so the output tells which
run's completion the orchestration received and ATTEMPTS how often it ran."""

from __future__ import annotations

import sys
import uuid

import pytest

from devhost.durable.history import EventType
from devhost.settings import SettingsError
from tests.devhost.conftest import APPS


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
    return sys.modules["function_app"].ATTEMPTS.get(key, 0)


def completions(instance) -> list[int]:
    return [
        e["TaskScheduledId"]
        for e in instance.history
        if e["EventType"] in (EventType.TASK_COMPLETED, EventType.TASK_FAILED)
    ]


def test_without_faults_an_activity_runs_once(start_host, monkeypatch):
    status, runs, instance = run_once(start_host, monkeypatch, "", "plain:0")

    assert status["output"] == "ok after 1" and runs == 1
    assert completions(instance) == [0]


def test_replay_delivers_the_first_completion_then_runs_the_activity_again(start_host, monkeypatch):
    status, runs, instance = run_once(start_host, monkeypatch, "replay", "replay:0")

    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == "ok after 1"  # the first run's result
    assert runs == 2  # and a second run, whose result went nowhere
    assert completions(instance) == [0]


def test_drop_loses_the_first_completion_and_delivers_the_rerun(start_host, monkeypatch):
    status, runs, instance = run_once(start_host, monkeypatch, "drop", "drop:0")

    assert status["output"] == "ok after 2" and runs == 2
    assert completions(instance) == [0]


def test_a_dropped_failure_is_run_again_too(start_host, monkeypatch):
    # The first run fails; that failure is lost, the second run succeeds and is delivered.
    status, runs, instance = run_once(start_host, monkeypatch, "drop", "drop-fail:1")

    assert status["runtimeStatus"] == "Completed" and status["output"] == "ok after 2"
    assert runs == 2
    assert [e["EventType"] for e in instance.history].count(EventType.TASK_FAILED) == 0


def test_both_modes_together(start_host, monkeypatch):
    status, runs, _ = run_once(start_host, monkeypatch, "replay, drop", "both:0")

    assert status["output"] == "ok after 2" and runs == 3


def test_an_unknown_mode_stops_the_host(start_host, monkeypatch):
    monkeypatch.setenv("DEVHOST_ACTIVITY_FAULTS", "replay,twice")
    with pytest.raises(SettingsError, match="unknown mode.*twice"):
        start_host(APPS / "durable")
