"""The wall time invocations keep instances executing, per Flex Consumption scale group
(devhost/occupancy.py). The arithmetic runs on a clock the test moves; against the devhost only
counts and the relations that hold whatever the timing are checked, never a duration."""

from __future__ import annotations

import time

import pytest

from devhost.occupancy import DURABLE, HTTP, Occupancy, Occupied, scale_group
from tests.devhost.conftest import APPS


class Clock:
    """A clock the test sets."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_functions_go_to_the_scale_groups_flex_consumption_forms():
    assert scale_group("http", "post_message") == HTTP
    assert scale_group("orchestrator", "delegation") == DURABLE
    assert scale_group("activity", "call_specialist") == DURABLE
    # Every other function scales on its own.
    assert scale_group("timer", "agent_health") == "agent_health"


def test_held_adds_the_invocations_up_and_busy_counts_overlaps_once():
    clock = Clock()
    occupancy = Occupancy(clock)
    first = occupancy.running("http", "a")
    first.__enter__()  # 0 to 3
    clock.now = 1.0
    with occupancy.running("http", "b"):  # 1 to 2, inside the first
        clock.now = 2.0
    clock.now = 3.0
    first.__exit__(None, None, None)
    clock.now = 5.0
    with occupancy.running("http", "a"):  # 5 to 6, after an idle gap
        clock.now = 6.0
    assert occupancy.snapshot() == {HTTP: Occupied(3, held_seconds=5.0, busy_seconds=4.0)}


def test_an_orchestrator_and_its_activities_share_one_group():
    clock = Clock()
    occupancy = Occupancy(clock)
    episode = occupancy.running("orchestrator", "delegation")
    episode.__enter__()  # 0 to 1
    clock.now = 0.5
    activity = occupancy.running("activity", "call_specialist")
    activity.__enter__()  # 0.5 to 2
    clock.now = 1.0
    episode.__exit__(None, None, None)
    clock.now = 2.0
    activity.__exit__(None, None, None)
    with occupancy.running("timer", "agent_health"):
        clock.now = 4.0
    assert occupancy.snapshot() == {
        DURABLE: Occupied(2, held_seconds=2.5, busy_seconds=2.0),
        "agent_health": Occupied(1, held_seconds=2.0, busy_seconds=2.0),
    }


def test_a_snapshot_counts_the_invocations_still_running_up_to_now():
    clock = Clock()
    occupancy = Occupancy(clock)
    earlier = occupancy.snapshot()
    with occupancy.running("http", "a"):
        clock.now = 1.0
        with occupancy.running("http", "b"):
            clock.now = 3.0
            during = occupancy.snapshot()[HTTP]
            assert during == Occupied(2, held_seconds=5.0, busy_seconds=3.0)
    assert during.minus(earlier.get(HTTP, Occupied())) == during


def test_an_invocation_that_raises_is_counted_all_the_same():
    clock = Clock()
    occupancy = Occupancy(clock)
    with pytest.raises(RuntimeError), occupancy.running("activity", "x"):
        clock.now = 2.0
        raise RuntimeError("failed")
    assert occupancy.snapshot() == {DURABLE: Occupied(1, held_seconds=2.0, busy_seconds=2.0)}


@pytest.fixture
def host(start_host):
    return start_host(APPS / "cpu", run_timers=False)


def test_the_devhost_counts_each_invocation_in_its_group(host):
    args = {
        "orchestrator": 0.001,
        "async": {"seconds": 0.01, "slices": 2},
        "sync": 0.01,
        "spawned": {"seconds": 0.01, "tasks": 2, "late": 0.001},
    }
    started = time.monotonic()
    before = host.host.occupancy.snapshot()
    cpu_before = host.host.cpu.snapshot()
    response = host.http.post("/api/orchestrators/burner", json=args)
    assert response.status_code == 202, response.text
    instance = host.wait(response.text, 30)
    assert instance.status == "Completed", instance.output_json
    after = host.host.occupancy.snapshot()
    elapsed = time.monotonic() - started
    cpu = host.host.cpu.snapshot().minus(cpu_before)

    assert set(after) == {HTTP, DURABLE}
    http = after[HTTP].minus(before.get(HTTP, Occupied()))
    durable = after[DURABLE].minus(before.get(DURABLE, Occupied()))
    # The HTTP start, then every episode and the three activities, as the CPU ledger counted.
    assert http.invocations == cpu.by_kind["http"].invocations == 1
    assert cpu.by_kind["activity"].invocations == 3
    assert durable.invocations == cpu.episodes + 3
    for group in (http, durable):
        # Two activities ran side by side: busy counts that time once, held twice.
        assert 0 < group.busy_seconds <= group.held_seconds
        assert group.busy_seconds <= elapsed
    assert durable.busy_seconds < durable.held_seconds
