"""Activities delivered at least once: full delegations with every activity run twice.

The devhost's DEVHOST_ACTIVITY_FAULTS (docs/devhost.md) makes each activity run again after its
completion was delivered (`replay`), or lose its first completion and run again (`drop`), as
Azure's Durable backend may. Every turn must still be answered once, its history rows written
once, and the events the browser shows (it drops an event id it has seen) shown once; a
technician visit must be booked once.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from activities.record import record_turn
from tests.conftest import remember_secret
from tests.system import assert_turn_complete
from voicea2a import history

pytestmark = pytest.mark.azurite

MODES = [{"DEVHOST_ACTIVITY_FAULTS": "replay"}, {"DEVHOST_ACTIVITY_FAULTS": "drop"}]
MODE_IDS = ["replay", "drop"]
PROTOCOL = "json.webpubsub.azure.v1"


class EventListener:
    """A browser's live-event connection for one user: every event envelope as received."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        assert json.loads(socket.recv(timeout=10))["event"] == "connected"
        self.received: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.socket:
                frame = json.loads(raw)
                if frame.get("type") == "message":
                    self.received.append(frame["data"])
        except ConnectionClosed:
            return

    def close(self) -> list[dict[str, Any]]:
        self.socket.close()
        self.thread.join(10)
        return list(self.received)


@pytest.fixture
def listener(system):
    negotiated = system.app.http.post("/api/events/negotiate", headers=system.headers())
    assert negotiated.status_code == 200, negotiated.text
    url = remember_secret(negotiated.json()["url"])
    with connect(url, subprotocols=[PROTOCOL]) as socket:
        yield EventListener(socket)


def visible(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the browser shows: an id seen before is dropped (web/src/events.js, receive)."""
    seen: set[str] = set()
    shown = []
    for event in events:
        if event["id"] not in seen:
            seen.add(event["id"])
            shown.append(event)
    return shown


def _but_time(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key != "time"}


def answered(system, customer: str, symptoms: list[str], conversation: str) -> dict:
    posted = system.ask(customer, symptoms, conversationId=conversation)
    assert posted.status_code in (200, 202), posted.text
    done = system.wait_done(posted.json()["instanceId"], timeout=60)
    assert done["status"] == "completed" and done["answer"], done
    return done


def all_activities_settled(system) -> None:
    """The reruns the fault mode makes after an orchestration moved on have finished too."""
    system.loop.run(system.app.engine.activities_settled(30), 40)


@pytest.mark.parametrize("overrides", MODES, ids=MODE_IDS)
def test_every_turn_answered_once_recorded_once_and_shown_once(system, listener):
    conversation = "at-least-once-" + system.settings["DEVHOST_ACTIVITY_FAULTS"]
    turns = [
        answered(system, "CUST-0003", ["slow_internet"], conversation),
        answered(system, "CUST-0003", ["billing_question"], conversation),
    ]
    all_activities_settled(system)

    # History: each turn's rows once, in order, nothing extra from the reruns.
    history = system.history(conversation)
    ids = [message["id"] for message in history]
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)
    for done in turns:
        turn = [m for m in history if m["instanceId"] == done["instanceId"]]
        assert_turn_complete(turn, done)
        assert done["partial"] is False, done
    assert [m["role"] for m in history].count("assistant") == len(turns)
    assert [m["role"] for m in history].count("user") == len(turns)

    received = listener.close()
    # The fault did happen: every event (the orchestration publishes them all, the new
    # conversation's conversation.created too) was published twice, with the same id.
    by_id: dict[str, list[dict[str, Any]]] = {}
    for event in received:
        by_id.setdefault(event["id"], []).append(event)
    once = [c[0]["type"] for c in by_id.values() if len(c) == 1]
    assert once == [], once
    assert "conversation.created" in {c[0]["type"] for c in by_id.values()}
    # A repeat is the same event (same id, same content; an outcome its activity announced
    # again is stamped when the rerun announced it), so dropping it by id is right ...
    for copies in by_id.values():
        assert all(_but_time(copy) == _but_time(copies[0]) for copy in copies), copies
    # ... and what is left shows each thing once: one answer per turn, no step twice.
    shown = visible(received)
    answers = Counter(e["instanceId"] for e in shown if e["type"] == "message")
    assert answers == {done["instanceId"]: 1 for done in turns}
    steps = Counter(
        (e["type"], e.get("instanceId"), e.get("agent"), json.dumps(e["data"], sort_keys=True))
        for e in shown
    )
    assert [step for step, count in steps.items() if count > 1] == []


@pytest.mark.parametrize("overrides", MODES, ids=MODE_IDS)
def test_one_booking_per_technician_visit(system):
    """CUST-0001's visit needs no approval: `call_specialist` books it, and runs twice here."""
    running = system.agents.agents["technical-dispatch"]
    dispatch = running.agent
    conversation = "at-least-once-visit-" + system.settings["DEVHOST_ACTIVITY_FAULTS"]

    done = answered(system, "CUST-0001", ["technician_visit"], conversation)
    all_activities_settled(system)

    assert "book" in done["answer"].lower(), done
    assert len(running.seen) >= 2  # the agent was asked twice ...
    assert len(dispatch.calendar.booked) == 1, dispatch.calendar.booked  # ... and booked once


async def test_a_late_rerun_of_an_earlier_turn_keeps_the_later_verification(azurite_env):
    """Azure may deliver an activity again minutes later, after the next turn was recorded:
    the rerun rewrites its own rows, and does not undo the later turn's verified customer."""
    azurite_env()
    user = conversation = "alo-" + secrets.token_hex(4)
    answer = {"answer": "Done.", "agents": [], "partial": False}

    def turn(instance_id: str, started_at: str, customer: str) -> dict[str, Any]:
        return {
            "user": user,
            "conversationId": conversation,
            "instanceId": instance_id,
            "startedAt": started_at,
            "request": "Who am I?",
            "outcomes": [],
            "answer": answer,
            "verifiedCustomerId": customer,
            "identityChecked": True,
        }

    first = turn("dlg-01", "2026-12-01T10:00:00+00:00", "CUST-0001")
    second = turn("dlg-02", "2026-12-01T10:05:00+00:00", "CUST-0002")
    await record_turn(first)
    await record_turn(second)
    await record_turn(first)  # the first turn's activity, run again

    assert (await history.verified_customer(user, conversation)).customer_id == "CUST-0002"
    messages, _ = await history.list_messages(user, conversation)
    assert [(m["instanceId"], m["role"]) for m in messages] == [
        ("dlg-01", "user"),
        ("dlg-01", "assistant"),
        ("dlg-02", "user"),
        ("dlg-02", "assistant"),
    ]
