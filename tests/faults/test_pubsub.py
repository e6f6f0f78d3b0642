"""The local Web PubSub service down: conversations still complete, answers are reachable
through the status route, history is complete, and the outage is visible in health only."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.system import assert_turn_complete

pytestmark = pytest.mark.azurite

# 202 at once: the answer is fetched from the status route, as a browser without events would.
QUICK_REPLY = {"VOICE_SYNC_WAIT_SECONDS": "0.3", "EVENTS_PUBLISH_TIMEOUT_SECONDS": "1"}


@pytest.mark.parametrize("overrides", [QUICK_REPLY])
def test_conversations_complete_with_web_pubsub_down(system, loop_thread):
    endpoint = system.pubsub.base_url
    loop_thread.run(system.pubsub.stop())
    with pytest.raises(httpx.ConnectError):
        httpx.head(f"{endpoint}/api/health", timeout=2)

    started = time.monotonic()
    posted = system.ask("CUST-0003", ["slow_internet"])
    assert posted.status_code in (200, 202), posted.text
    instance_id = posted.json()["instanceId"]
    done = system.wait_done(instance_id, timeout=30)
    elapsed = time.monotonic() - started

    assert done["status"] == "completed" and done["answer"], done
    assert done["partial"] is False, done  # every agent answered; only the events were lost
    # Each event batch is dropped after two failed attempts, never waiting on the outage long.
    assert elapsed < 15, elapsed
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
