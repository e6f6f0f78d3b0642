"""The local Web PubSub service down: conversations still complete, answers are reachable
through the status route, history is complete, and the outage is visible in health only."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from tests.system import ACCESS_KEY, assert_turn_complete
from tests.waiting import wait_until

pytestmark = pytest.mark.azurite

# 202 at once: the answer is fetched from the status route, as a browser without events would.
QUICK_REPLY = {"VOICE_SYNC_WAIT_SECONDS": "0.3", "EVENTS_PUBLISH_TIMEOUT_SECONDS": "1"}


def failed_events(caplog) -> int:
    """The publisher's `events.failed` records (one per given-up event or lane), from whichever
    process ran it."""
    return sum(1 for record in caplog.records if getattr(record, "event", None) == "events.failed")


@pytest.mark.parametrize("overrides", [QUICK_REPLY])
def test_conversations_complete_with_web_pubsub_down(system, loop_thread, caplog):
    endpoint = system.pubsub.base_url
    loop_thread.run(system.pubsub.stop())
    with pytest.raises(httpx.ConnectError):
        httpx.head(f"{endpoint}/api/health", timeout=2)

    posted = system.ask("CUST-0003", ["slow_internet"])
    assert posted.status_code in (200, 202), posted.text
    instance_id = posted.json()["instanceId"]
    done = system.wait_done(instance_id, timeout=30)

    assert done["status"] == "completed" and done["answer"], done
    assert done["partial"] is False, done  # every agent answered; only the events were lost
    # Every event was given up (after two failed attempts), none waited for: each is logged
    # (events.failed) by whichever process tried it, after the answer.
    wait_until(lambda: failed_events(caplog), what="an events.failed line")
    turn = system.wait_history(done["conversationId"], instance_id)
    assert_turn_complete(turn, done)

    # A second turn in the same conversation is recorded after the first.
    again = system.ask("CUST-0003", ["billing_question"], conversationId=done["conversationId"])
    second = system.wait_done(again.json()["instanceId"], timeout=30)
    assert second["status"] == "completed"
    turns = system.history(done["conversationId"])
    assert [m["role"] for m in turns].count("assistant") == 2
    assert turns[-1]["text"] == second["answer"]

    # Client URLs are minted locally with the access key: a browser still gets one (it will
    # reconnect once the service is back; meanwhile the status route serves the answers).
    negotiated = system.app.http.post("/api/events/negotiate", headers=system.headers())
    assert negotiated.status_code == 200, negotiated.text

    health = system.app.http.get("/api/health").json()
    assert health["status"] == "degraded"
    assert health["dependencies"]["webPubSub"]["status"] == "unavailable"
    assert health["dependencies"]["storage"]["status"] == "ok"
    assert system.stuck_instances() == {}


class BlackHole:
    """A Web PubSub that accepts connections and never answers: nobody reads the sockets."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self.server.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return  # closed
            self.connections.append(connection)

    def close(self) -> None:
        self.server.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def black_hole():
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.fixture
def overrides(black_hole):
    return {
        "WEBPUBSUB_CONNECTION_STRING": (
            f"Endpoint=http://127.0.0.1:{black_hole.port};AccessKey={ACCESS_KEY};"
        ),
        "EVENTS_PUBLISH_TIMEOUT_SECONDS": "1",
        "EVENTS_BATCH_BUDGET_SECONDS": "2",
    }


def test_a_web_pubsub_that_never_answers_holds_up_no_answer(system, black_hole, caplog):
    # A new conversation (its conversation.created is not published inline), then a second
    # turn in it: both answered within the sync wait, each stage's events hanging meanwhile.
    first = system.ask("CUST-0003", ["slow_internet"])
    assert first.status_code == 200, first.text
    conversation = first.json()["conversationId"]
    second = system.ask("CUST-0003", ["billing_question"], conversationId=conversation)
    assert second.status_code == 200, second.text

    for answer in (first.json(), second.json()):
        done = system.wait_done(answer["instanceId"])
        assert done["status"] == "completed" and done["answer"] == answer["answer"], done
        assert_turn_complete(system.wait_history(conversation, answer["instanceId"]), done)
    assert black_hole.connections  # the events were tried
    # Dropped at the end of each lane's budget (EVENTS_BATCH_BUDGET_SECONDS), after the answer,
    # and counted (and logged: events.failed).
    wait_until(lambda: failed_events(caplog), what="an events.failed line")
    assert system.stuck_instances(timeout=30) == {}
