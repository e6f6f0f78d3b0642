"""A Durable engine stopped part-way and a new one built on the same Table store: running
instances resume (events, timers, activities still running, retry timers) and end as one
uninterrupted run would, with the same sequence ids; finished ones stay queryable."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from devhost.azurite import start_azurite
from devhost.durable import history as h
from devhost.durable.engine import DurableEngine
from devhost.durable.instance import Instance, Leaf
from devhost.durable.store import TableStore
from devhost.durable.storeconfig import table_name
from devhost.functions import Invoker, index_app, load_app
from tests.conftest import ROOT, free_port
from tests.devhost.conftest import APPS
from tests.waiting import wait_until_async

pytestmark = pytest.mark.azurite
T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
EPISODE_MARKERS = (h.EventType.ORCHESTRATOR_STARTED, h.EventType.ORCHESTRATOR_COMPLETED)


def sample_instance(instance_id: str) -> Instance:
    """An instance with a little of everything the store keeps."""
    instance = Instance(instance_id, "orch", json.dumps("in"), T0, T0, parent=("p", 3))
    instance.status = "Running"
    instance.history = [h.orchestrator_started(T0), h.execution_started(T0, "orch", "x", '"in"')]
    instance.leaves = [Leaf(0, "act", 0), Leaf(6, "go", None)]
    instance.next_id = 1
    instance.timer_due = {7: T0}
    return instance


@pytest.fixture(scope="module")
def app():
    index = index_app(load_app(APPS / "durable"))
    invoker = Invoker(APPS / "durable")
    yield index, invoker
    invoker.close()


@pytest.fixture
def table() -> str:
    return table_name("t" + uuid.uuid4().hex[:12])


async def engine_on(app, connection_string: str | None, table: str | None) -> DurableEngine:
    """A loaded engine on the Table store (None: in memory, the uninterrupted reference)."""
    store = TableStore(connection_string, table) if connection_string else None
    engine = DurableEngine(*app, store=store)
    await engine.load()
    return engine


def shape(instance: Instance) -> list[tuple]:
    """The history without episode markers: what happened, with every sequence id."""
    return [
        (
            h.EventType(e["EventType"]).name,
            e["EventId"] if e["EventId"] >= 0 else e.get("TaskScheduledId", e.get("TimerId")),
            e.get("Name"),
        )
        for e in instance.history
        if e["EventType"] not in EPISODE_MARKERS
    ]


def unplayed(instance: Instance) -> list[dict]:
    """The history without `IsPlayed` (a loaded history is all played, as the next episode
    would mark it)."""
    return [{k: v for k, v in e.items() if k != "IsPlayed"} for e in instance.history]


def has(engine: DurableEngine, instance_id: str, kind: h.EventType) -> Callable[[], bool]:
    return lambda: any(e["EventType"] == kind for e in engine.instances[instance_id].history)


async def started(engine: DurableEngine, name: str, value, instance_id: str) -> None:
    engine.start(name, instance_id, json.dumps(value))
    assert await engine.acknowledge(instance_id)


async def run_uninterrupted(app, name: str, value, instance_id: str, event=None) -> Instance:
    engine = await engine_on(app, None, None)
    try:
        await started(engine, name, value, instance_id)
        if event:
            await engine.wait_idle(instance_id, 10)
            engine.raise_event(instance_id, *event)
        return await engine.wait(instance_id, 20)
    finally:
        await engine.close()


async def test_an_instance_waiting_for_an_event_and_a_timer_resumes_and_stays_queryable(
    app, azurite, table
):
    event = ("approval", json.dumps(json.dumps({"ok": True})))
    value = {"racer": "event", "timeout": 30}
    first = await engine_on(app, azurite.connection_string, table)
    await started(first, "race", value, "waits")
    await first.wait_idle("waits", 10)
    await first.close()

    second = await engine_on(app, azurite.connection_string, table)
    assert second.instances["waits"].status == "Running"
    assert list(second.instances["waits"].timers) == [0]  # the 30 s timer is armed again
    assert second.raise_event("waits", *event)
    assert await second.acknowledge("waits")
    done = await second.wait("waits", 20)
    await second.close()

    reference = await run_uninterrupted(app, "race", value, "waits-ref", event)
    assert done.status == reference.status == "Completed"
    assert done.output_json == reference.output_json
    assert shape(done) == shape(reference)

    third = await engine_on(app, azurite.connection_string, table)
    again = third.instances["waits"]
    assert (again.status, again.output_json) == ("Completed", done.output_json)
    assert unplayed(again) == unplayed(done)
    await third.close()


async def test_an_activity_running_when_the_engine_stops_runs_again_after_the_restart(
    app, azurite, table
):
    first = await engine_on(app, azurite.connection_string, table)
    await started(first, "early_event", 1.0, "busy")
    await wait_until_async(has(first, "busy", h.EventType.TASK_SCHEDULED), what="the activity")
    assert await first.acknowledge("busy")
    await first.close()  # sleep_sync(1.0) is still running: its completion is lost

    second = await engine_on(app, azurite.connection_string, table)
    second.raise_event("busy", "go", json.dumps("[1, 2]"))
    done = await second.wait("busy", 20)
    await second.close()

    reference = await run_uninterrupted(app, "early_event", 1.0, "busy-ref", ("go", '"[1, 2]"'))
    assert done.status == reference.status == "Completed"
    assert json.loads(done.output_json) == json.loads(reference.output_json)
    assert shape(done) == shape(reference)


async def test_a_pending_retry_timer_fires_after_the_restart_with_the_same_ids(app, azurite, table):
    key = f"restart-{uuid.uuid4().hex[:6]}:1"  # flaky fails once, then succeeds
    first = await engine_on(app, azurite.connection_string, table)
    await started(first, "slow_retry", key, "retries")
    await wait_until_async(has(first, "retries", h.EventType.TIMER_CREATED), what="the timer")
    assert await first.acknowledge("retries")
    await first.close()

    second = await engine_on(app, azurite.connection_string, table)
    assert list(second.instances["retries"].retry_timers) == [1]
    done = await second.wait("retries", 20)
    await second.close()

    ref_key = f"restart-ref-{uuid.uuid4().hex[:6]}:1"
    reference = await run_uninterrupted(app, "slow_retry", ref_key, "retries-ref")
    assert done.status == reference.status == "Completed"
    assert json.loads(done.output_json) == ["ok after 2", "hello after"]
    # Ids as DTFx hands them out: the attempt 0, its retry timer 1, the second attempt 2.
    assert shape(done) == [(name, task_id, item) for name, task_id, item in shape(reference)]
    assert [s[1] for s in shape(done) if s[0] == "TASK_SCHEDULED"] == [0, 2, 3]


async def test_an_acknowledged_start_survives_and_its_sub_orchestrations_run(app, azurite, table):
    first = await engine_on(app, azurite.connection_string, table)
    first.start("parent", "family", None)
    assert await first.acknowledge("family")
    first.instances["family"].pump.cancel()  # stopped before its first episode ran
    await first.close()

    second = await engine_on(app, azurite.connection_string, table)
    done = await second.wait("family", 20)
    assert json.loads(done.output_json) == ["HELLO X", "HELLO Y"]
    assert second.instances["family:0"].status == "Completed"
    await second.close()


async def test_large_activity_values_are_stored_and_read_back(app, azurite, table):
    first = await engine_on(app, azurite.connection_string, table)
    await started(first, "large", 300_000, "large")
    done = await first.wait("large", 20)
    assert json.loads(done.output_json) == len("hello ") + 300_000
    assert await first.acknowledge("large")
    await first.close()

    second = await engine_on(app, azurite.connection_string, table)
    again = second.instances["large"]
    assert unplayed(again) == unplayed(done)
    assert len(json.loads(again.history[-3]["Result"])) == len("hello ") + 300_000
    await second.close()


async def test_writes_wait_out_a_stopped_azurite_and_the_engine_runs_on_in_memory(
    app, table, tmp_path, caplog
):
    ports = {"blob_port": free_port(), "queue_port": free_port(), "table_port": free_port()}
    location = tmp_path / "azurite"

    def azurite():
        return start_azurite(**ports, location=location, in_memory=False, script_root=ROOT)

    own = azurite()
    try:
        engine = await engine_on(app, own.connection_string, table)
        await started(engine, "race", {"racer": "event", "timeout": 30}, "outage")
        await engine.wait_idle("outage", 10)
        own.stop()

        with caplog.at_level(logging.WARNING, logger="devhost.durable.store"):
            engine.raise_event("outage", "approval", json.dumps('"yes"'))
            assert not await engine.acknowledge("outage", timeout=1)  # not stored: not acked
            done = await engine.wait("outage", 20)  # ... but it ran, in memory
            await wait_until_async(lambda: "retrying in" in caplog.text, what="a retry logged")
        assert done.status == "Completed"

        own = azurite()  # the same data folder and ports
        assert await engine.acknowledge("outage", timeout=30)
        await engine.close()

        again = await engine_on(app, own.connection_string, table)
        assert again.instances["outage"].status == "Completed"
        assert again.instances["outage"].output_json == done.output_json
        await again.close()
    finally:
        own.stop()
