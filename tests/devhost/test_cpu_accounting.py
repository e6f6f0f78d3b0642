"""The devhost's CPU ledger (devhost/cpu.py): each invocation is charged the thread CPU time its
own code spent, by kind, and nothing its neighbours on the event loop spent. CPU time only:
nothing here measures or asserts wall-clock time."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from typing import Any

import pytest

from devhost import cpu
from devhost.durable.history import EventType
from tests.devhost.conftest import APPS
from tests.waiting import wait_until

# An invocation is charged its own slices plus the worker's conversions and the wrapper's
# bookkeeping: within 20 % of what the function measured of itself, or 10 ms.
RELATIVE, ABSOLUTE = 0.20, 0.010
# What the engine appends after an episode ran (an episode is handed everything before).
PRODUCED = {
    EventType.TASK_SCHEDULED,
    EventType.TIMER_CREATED,
    EventType.SUB_ORCHESTRATION_CREATED,
    EventType.ORCHESTRATOR_COMPLETED,
}


def close_to(charged: float, own: float) -> bool:
    return abs(charged - own) <= max(RELATIVE * own, ABSOLUTE)


def burn(seconds: float) -> float:
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass
    return time.thread_time() - start


class Neighbour:
    """Burns CPU on the devhost's event loop in 5 ms slices, outside any function, until
    stopped: what must never be charged to a function sharing the loop."""

    def __init__(self, loop_thread) -> None:
        self.seconds = 0.0
        self._stop = False
        self._future = asyncio.run_coroutine_threadsafe(self._run(), loop_thread.loop)

    async def _run(self) -> None:
        while not self._stop:
            self.seconds += burn(0.005)
            await asyncio.sleep(0)

    def stop(self) -> float:
        self._stop = True
        self._future.result(10)
        return self.seconds


@pytest.fixture
def host(start_host):
    return start_host(APPS / "cpu", run_timers=False)


@pytest.fixture
def neighbour(loop_thread):
    running = Neighbour(loop_thread)
    yield running
    running.stop()


def measured(caplog) -> dict[str, list[float]]:
    """The app's own measurements, from its log records (whichever process ran it)."""
    found: dict[str, list[float]] = {"burner": [], "burn_timer": [], "late": []}
    for record in caplog.records:
        if record.name == "cpu_app":
            found[record.measured].append(record.seconds)
    return found


def usage(snapshot: cpu.CpuSnapshot, kind: str, name: str) -> cpu.Usage:
    return snapshot.by_function.get((kind, name), cpu.Usage())


# The neighbour burns on the devhost's loop, which app code shares only in the host's process.
@pytest.mark.in_process_worker
def test_each_invocation_is_charged_its_own_cpu_and_not_its_neighbours(host, neighbour, caplog):
    args = {
        "orchestrator": 0.03,
        "async": {"seconds": 0.15, "slices": 30},
        "sync": 0.1,
        "spawned": {"seconds": 0.1, "tasks": 4, "late": 0.03},
    }
    before = host.host.cpu.snapshot()
    response = host.http.post("/api/orchestrators/burner", json=args)
    assert response.status_code == 202, response.text
    instance = host.wait(response.text, 30)
    assert instance.status == "Completed", instance.output_json
    wait_until(lambda: measured(caplog)["late"], 30, what="the late task's measure")
    burned_by_neighbour = neighbour.stop()
    delta = host.host.cpu.snapshot().minus(before)
    results = json.loads(instance.output_json)

    # The async activity shared the loop with the neighbour, which ran between its slices (its
    # span holds the neighbour's CPU): it is charged its own slices only.
    async_run = results["burn_async"]
    assert async_run["span"] > 1.5 * async_run["own"], "the neighbour never ran in between"
    charged = usage(delta, "activity", "burn_async")
    assert charged.invocations == 1
    assert close_to(charged.cpu_seconds, async_run["own"]), (charged, async_run)
    assert charged.cpu_seconds < async_run["own"] + (async_run["span"] - async_run["own"]) / 2
    assert burned_by_neighbour > async_run["span"] - async_run["own"]

    # The sync activity ran on an executor thread.
    charged = usage(delta, "activity", "burn_sync")
    assert charged.invocations == 1
    assert close_to(charged.cpu_seconds, results["burn_sync"]["own"]), charged

    # The tasks an activity creates are its work, even one that goes on after it returned.
    charged = usage(delta, "activity", "burn_spawned")
    own = results["burn_spawned"]["own"] + measured(caplog)["late"][0]
    assert charged.invocations == 1
    assert close_to(charged.cpu_seconds, own), (charged, own)

    # Each orchestrator episode burned in the orchestrator's body; the SDK's replay of these
    # short histories adds a little to each.
    charged = usage(delta, "orchestrator", "burner")
    own = sum(measured(caplog)["burner"])
    assert own <= charged.cpu_seconds <= own * (1 + RELATIVE) + ABSOLUTE * charged.invocations

    # Episodes and history events, as the engine counted them, match the instance's history.
    history = instance.history
    kinds = [event["EventType"] for event in history]
    episodes = [i for i, kind in enumerate(kinds) if kind == EventType.ORCHESTRATOR_STARTED]
    assert delta.episodes == len(episodes) == charged.invocations >= 3
    assert delta.by_kind["orchestrator"].invocations == delta.episodes
    # Each episode was handed the history up to the first event it produced.
    handed = [
        next(j for j in range(start, len(kinds)) if kinds[j] in PRODUCED) for start in episodes
    ]
    assert delta.replayed_events == sum(handed)
    assert delta.executions_finished == 1
    assert delta.history_events == len(history)

    # By kind: the one HTTP start, three activities, no timer; the neighbour is nobody's.
    assert delta.by_kind["http"].invocations == 1
    assert delta.by_kind["activity"].invocations == 3
    assert delta.by_kind["timer"] == cpu.Usage()
    assert delta.worker_cpu_seconds == pytest.approx(
        sum(u.cpu_seconds for u in delta.by_kind.values())
    )


def test_an_http_function_is_charged_its_own_cpu(host, neighbour):
    before = host.host.cpu.snapshot()
    response = host.http.post("/api/burn", json={"seconds": 0.1, "slices": 10})
    assert response.status_code == 200, response.text
    charged = usage(host.host.cpu.snapshot().minus(before), "http", "burn_http")
    assert charged.invocations == 1
    assert close_to(charged.cpu_seconds, float(response.text)), charged


def test_a_timer_is_charged_its_own_cpu(host, neighbour, caplog):
    before = host.host.cpu.snapshot()
    response = host.http.post("/admin/functions/burn_timer", json={})
    assert response.status_code == 202, response.text
    delta = host.host.cpu.snapshot().minus(before)
    charged = usage(delta, "timer", "burn_timer")
    assert charged.invocations == 1 and delta.by_kind["timer"].invocations == 1
    assert close_to(charged.cpu_seconds, measured(caplog)["burn_timer"][-1]), charged


# ----- the stepwise wrapper on its own -----


async def outcome(coro_factory, wrap) -> tuple[str, Any]:
    """What awaiting the coroutine in a task gives: its value, or its exception's type and args
    (or "cancelled")."""
    task = asyncio.ensure_future(wrap(coro_factory()))
    try:
        return "value", await task
    except asyncio.CancelledError:
        return "cancelled", task.cancelled()
    except Exception as exc:
        return type(exc).__name__, exc.args


def native(coro):
    return coro


def wrapped(coro):
    return cpu.metered(coro, cpu.Meter())


async def returns() -> int:
    await asyncio.sleep(0)
    return 42


async def raises() -> None:
    await asyncio.sleep(0)
    raise KeyError("missing")


async def raises_stop_iteration() -> None:
    await asyncio.sleep(0)
    raise StopIteration  # a coroutine turns it into RuntimeError


async def cancels_itself() -> None:
    asyncio.current_task().cancel()
    await asyncio.sleep(0)


async def swallows_cancellation() -> str:
    asyncio.current_task().cancel()
    try:
        await asyncio.sleep(1)
    except asyncio.CancelledError:
        asyncio.current_task().uncancel()
        return "carried on"
    return "not cancelled"


async def times_out() -> None:
    async with asyncio.timeout(0.01):
        await asyncio.Event().wait()


async def waits_for() -> None:
    await asyncio.wait_for(asyncio.Event().wait(), 0.01)


@pytest.mark.parametrize(
    "coro_factory",
    [
        returns,
        raises,
        raises_stop_iteration,
        cancels_itself,
        swallows_cancellation,
        times_out,
        waits_for,
    ],
)
async def test_the_wrapper_changes_no_outcome(coro_factory):
    assert await outcome(coro_factory, wrapped) == await outcome(coro_factory, native)


async def test_an_exception_comes_through_as_the_same_object():
    error = ValueError("as raised")

    async def fails() -> None:
        await asyncio.sleep(0)
        raise error

    with pytest.raises(ValueError) as raised:
        await cpu.metered(fails(), cpu.Meter())
    assert raised.value is error


async def test_cancellation_reaches_the_coroutine_and_the_task_ends_cancelled():
    seen: list[str] = []
    started = asyncio.Event()

    async def waits() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            seen.append(f"cancelled: {exc.args}")
            raise
        finally:
            seen.append("finally")

    task = asyncio.ensure_future(cpu.metered(waits(), cpu.Meter()))
    await started.wait()
    task.cancel("stop")
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert seen == ["cancelled: ('stop',)", "finally"]


async def test_throw_and_close_go_to_the_coroutine():
    log: list[str] = []

    async def catches() -> None:
        try:
            await asyncio.sleep(0)
        except ValueError:
            log.append("caught")
        try:
            await asyncio.sleep(0)
        finally:
            log.append("finally")

    meter = cpu.Meter()
    wrapper = cpu.metered(catches(), meter)
    wrapper.send(None)
    wrapper.throw(ValueError("in"))
    wrapper.close()
    assert log == ["caught", "finally"]
    assert meter.slices == 3
    with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
        wrapper.send(None)


async def test_the_coroutine_is_what_introspection_sees():
    async def named() -> None:
        await asyncio.Event().wait()

    task = asyncio.ensure_future(cpu.metered(named(), cpu.Meter()))
    await asyncio.sleep(0)
    coro = task.get_coro()
    assert inspect.getcoroutinestate(coro) == inspect.CORO_SUSPENDED  # as anyio asks
    assert "named" in repr(task)
    assert task.get_stack()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_only_the_coroutines_own_steps_are_charged():
    meter = cpu.Meter()
    stop = asyncio.Event()
    neighbour_burned: list[float] = []

    async def neighbour() -> None:
        while not stop.is_set():
            neighbour_burned.append(burn(0.005))
            await asyncio.sleep(0)

    async def slices() -> float:
        own = 0.0
        for _ in range(10):
            own += burn(0.005)
            await asyncio.sleep(0)
        return own

    running = asyncio.ensure_future(neighbour())
    await asyncio.sleep(0)
    own = await cpu.metered(slices(), meter)
    stop.set()
    await running
    assert sum(neighbour_burned) > own / 2, "the neighbour never ran in between"
    assert close_to(meter.seconds, own), (meter.seconds, own)
    assert meter.slices == 11


async def test_a_metered_coroutine_inside_another_is_not_counted_twice():
    outer, inner = cpu.Meter(), cpu.Meter()

    async def inside() -> float:
        await asyncio.sleep(0)
        return burn(0.02)

    async def outside() -> float:
        return await cpu.metered(inside(), inner)

    own = await cpu.metered(outside(), outer)
    assert close_to(outer.seconds, own)
    assert inner.seconds == 0


async def test_tasks_created_by_metered_code_are_charged_to_it():
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    meter, bystander_burned = cpu.Meter(), []

    async def child() -> float:
        await asyncio.sleep(0)
        return burn(0.02)

    async def bystander() -> None:
        bystander_burned.append(burn(0.02))

    async def parent() -> float:
        spawned = await asyncio.gather(child(), child())
        return sum(spawned) + await asyncio.create_task(child())

    cpu.attribute_spawned_tasks(loop)
    cpu.attribute_spawned_tasks(loop)  # a second host on the same loop
    try:
        outside = asyncio.create_task(bystander())  # created outside any metered step
        own = await cpu.metered(parent(), meter)
        await outside
    finally:
        cpu.stop_attributing_spawned_tasks(loop)
        still_on = loop.get_task_factory() is not previous  # the other host still needs it
        cpu.stop_attributing_spawned_tasks(loop)
    assert still_on and loop.get_task_factory() is previous
    assert close_to(meter.seconds, own), (meter.seconds, own)
    assert meter.seconds < own + bystander_burned[0] / 2


def test_a_sync_call_is_charged_its_thread_cpu():
    meter = cpu.Meter()
    own = cpu.run_measured(lambda: burn(0.03), meter)
    assert close_to(meter.seconds, own) and meter.slices == 1


def test_the_ledger_adds_up_by_kind_and_function():
    ledger = cpu.CpuLedger()
    start = ledger.snapshot()
    ledger.invocation("activity", "a").add(0.5)
    ledger.invocation("activity", "a").add(0.25)
    ledger.invocation("http", "h").add(0.125)
    ledger.episode(7)
    ledger.episode(9)
    ledger.execution_finished(12)
    delta = ledger.snapshot().minus(start)
    assert delta.by_function[("activity", "a")] == cpu.Usage(2, 0.75, 2)
    assert delta.by_kind["activity"] == cpu.Usage(2, 0.75, 2)
    assert delta.by_kind["http"] == cpu.Usage(1, 0.125, 1)
    assert delta.by_kind["orchestrator"] == cpu.Usage() == delta.by_kind["timer"]
    assert delta.worker_cpu_seconds == 0.875
    assert (delta.episodes, delta.replayed_events) == (2, 16)
    assert (delta.executions_finished, delta.history_events) == (1, 12)
