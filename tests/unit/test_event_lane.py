"""voicea2a.publisher.EventLane: one activity's events in order, beside its work and never
holding it up; offers (progress) keep only the latest while one is out; a lane left sending
after its owner returned stops at its budget, counting what it had left (issue 19)."""

import asyncio

import pytest

from voicea2a import publisher
from voicea2a.events import Event
from voicea2a.publisher import EventLane


def event(name: str) -> Event:
    return Event(type="agent.status", data={"status": name}, owner="ada", conversation_id="c1")


@pytest.fixture
def wire(monkeypatch):
    """What the lane sends, in order; each send waits for `gate` while it is closed."""

    class Wire:
        sent: list[str] = []
        gate = asyncio.Event()

    wire = Wire()
    wire.sent = []
    wire.gate = asyncio.Event()
    wire.gate.set()

    async def publish(sent: Event) -> bool:
        wire.sent.append(sent.data["status"])
        await wire.gate.wait()
        return True

    monkeypatch.setattr(publisher, "publish", publish)
    return wire


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_events_go_out_in_order_and_the_owner_never_waits(wire):
    wire.gate.clear()  # Web PubSub holds every send
    lane = EventLane(budget_seconds=5)
    lane.send(event("started"))
    lane.offer(event("working"))
    await settle()
    tail = lane.close(event("completed"))  # returns at once, the first send still out
    assert wire.sent == ["started"] and tail is not None and not tail.done()
    wire.gate.set()
    await publisher.lanes_sent()
    # The offer waiting at close was stale: the outcome replaced it.
    assert wire.sent == ["started", "completed"]


async def test_an_offer_is_replaced_by_a_newer_one_while_another_send_is_out(wire):
    wire.gate.clear()
    lane = EventLane(budget_seconds=5, max_offers=10)
    for step in range(1, 5):
        lane.offer(event(f"step {step}"))
        await settle()
    wire.gate.set()
    await settle()
    lane.close()
    await publisher.lanes_sent()
    assert wire.sent == ["step 1", "step 4"]


async def test_offers_are_bounded_per_lane(wire):
    lane = EventLane(budget_seconds=5, max_offers=3)
    for step in range(10):
        lane.offer(event(f"step {step}"))
        await settle()
    lane.close()
    await publisher.lanes_sent()
    assert len(wire.sent) == 3


async def test_a_lane_left_sending_stops_at_its_budget_and_counts_the_rest(wire):
    wire.gate.clear()  # a Web PubSub that never answers
    failed = publisher.stats.failed
    lane = EventLane(budget_seconds=0.05)
    for name in ("a", "b", "c"):
        lane.send(event(name))
    tail = lane.close()
    assert tail is not None
    await publisher.lanes_sent()
    assert tail.cancelled()
    assert wire.sent == ["a"]
    assert publisher.stats.failed - failed == 3  # the one out and the two never tried


async def test_closing_twice_sends_nothing_more(wire):
    lane = EventLane(budget_seconds=5)
    lane.close(event("completed"))
    assert lane.close(event("again")) is None
    await publisher.lanes_sent()
    assert wire.sent == ["completed"]


async def test_a_lane_whose_send_raises_counts_the_rest_and_ends_quietly(monkeypatch, caplog):
    async def publish(sent: Event) -> bool:
        raise RuntimeError("settings gone")  # publish() itself never raises; a lane must not care

    monkeypatch.setattr(publisher, "publish", publish)
    failed = publisher.stats.failed
    lane = EventLane(budget_seconds=5)
    lane.send(event("a"))
    lane.send(event("b"))
    tail = lane.close()
    assert tail is not None
    await publisher.lanes_sent()
    assert tail.exception() is None  # nothing left for "Task exception was never retrieved"
    assert publisher.stats.failed - failed == 2
    [line] = [r for r in caplog.records if getattr(r, "event", None) == "events.failed"]
    assert "RuntimeError" in line.getMessage() and "settings gone" not in line.getMessage()


async def test_the_owner_can_wait_for_what_it_queued_while_web_pubsub_answers(wire, monkeypatch):
    monkeypatch.setattr(publisher.stats, "answering", True)
    wire.gate.clear()
    lane = EventLane(budget_seconds=5, max_offers=5)
    lane.send(event("started"))
    lane.offer(event("working"))  # offers are not waited for
    waiting = asyncio.ensure_future(lane.sent(limit=5))
    await settle()
    assert not waiting.done()
    wire.gate.set()
    await asyncio.wait_for(waiting, 1)
    assert wire.sent[0] == "started"
    lane.close()
    await publisher.lanes_sent()


async def test_waiting_is_bounded_and_skipped_while_web_pubsub_does_not_answer(wire, monkeypatch):
    monkeypatch.setattr(publisher.stats, "answering", True)
    wire.gate.clear()  # a send that never ends
    lane = EventLane(budget_seconds=0.2)
    lane.send(event("started"))
    await asyncio.wait_for(lane.sent(limit=0.05), 5)  # returns at its limit, the send still out
    assert wire.sent == ["started"]
    monkeypatch.setattr(publisher.stats, "answering", False)
    lane.send(event("completed"))
    await asyncio.wait_for(lane.sent(limit=60), 0.5)  # an outage: nothing waits
    lane.close()
    await publisher.lanes_sent()
