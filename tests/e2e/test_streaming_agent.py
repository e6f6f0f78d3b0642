"""A streaming a2a-sdk agent asked through POST /api/messages (issue 16, item 6): working longer
than AGENT_TIMEOUT_SECONDS, it is answered within AGENT_STREAM_TIMEOUT_SECONDS, and its progress
reaches the browser live as `agent.status` `working` events valid against the events schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.a2a_peers import (
    FILE_BYTES,
    FILE_URL,
    FINDING,
    LIST_DATA,
    multi_artifact_agent,
    slow_agent,
)
from tests.e2e.recorder import ROOT, agent_statuses, record_events

pytestmark = pytest.mark.azurite

SCHEMA = json.loads((ROOT / "docs" / "events.schema.json").read_text())
UPDATES = 5


@pytest.fixture
def overrides():
    # A blocking call would have 3 s (tests/system.py); this agent works about 4 s.
    return {"AGENT_STREAM_TIMEOUT_SECONDS": "15", "AGENT_STREAM_SILENCE_SECONDS": "2"}


@pytest.fixture
def slow(system, loop_thread):
    """The slow streaming agent, registered by its own identity and admitted by a supervisor."""
    agent, _ = slow_agent(updates=UPDATES, interval=0.8)
    loop_thread.run(agent.start())
    registered = system.app.http.post(
        "/api/agents", json={"url": agent.url}, headers=system.headers("agent-slow", ("agent",))
    )
    assert registered.status_code == 200, registered.text
    name = registered.json()["name"]
    admitted = system.app.http.post(
        f"/api/agents/{name}/admit", headers=system.headers("sam", ("supervisor",))
    )
    assert admitted.json()["admission"] == "admitted", admitted.text
    yield name
    loop_thread.run(agent.stop())


def test_a_slow_streaming_agent_is_answered_with_live_progress(system, slow):
    recorder = record_events(system)
    body = {
        "request": "Is the line to Lunenburg down?",
        "conversationId": "stream-1",
        "callId": "call-stream",
        "agents": [{"name": slow, "message": "Is the line to Lunenburg down?"}],
    }
    response = system.app.http.post("/api/messages", json=body, headers=system.headers())
    assert response.status_code in (200, 202), response.text
    if response.status_code == 202:
        answer = system.wait_done(response.json()["instanceId"])
    else:
        answer = response.json()
    assert FINDING in answer["answer"], answer
    assert "couldn't" not in answer["answer"].lower(), answer

    events = recorder.of("call-stream")  # until the answer's event, the last of the turn
    recorder.stop()
    assert (slow, "completed") in agent_statuses(events)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    mine = [e for e in events if e["type"] == "agent.status" and e["agent"] == slow]
    for event in mine:
        validator.validate(event)
    working = [e["data"]["message"] for e in mine if e["data"]["status"] == "working"]
    assert working == [f"checking {i}/{UPDATES}" for i in range(1, UPDATES + 1)]
    statuses = [e["data"]["status"] for e in mine]
    # `started` comes from the orchestrator, `working` from the activity, side by side.
    assert sorted(set(statuses)) == ["completed", "started", "working"]
    assert statuses[-1] == "completed"


@pytest.mark.parametrize("version", ["1.0", "0.3"])
def test_every_part_of_a_multi_artifact_task_reaches_the_history(system, loop_thread, version):
    agent = multi_artifact_agent(version)
    loop_thread.run(agent.start())
    try:
        registered = system.app.http.post(
            "/api/agents", json={"url": agent.url}, headers=system.headers("agent-mx", ("agent",))
        )
        name = registered.json()["name"]
        system.app.http.post(
            f"/api/agents/{name}/admit", headers=system.headers("sam", ("supervisor",))
        )
        conversation_id = f"parts-{version.replace('.', '')}"
        body = {"request": "Report?", "conversationId": conversation_id, "agents": [name]}
        answered = system.app.http.post("/api/messages", json=body, headers=system.headers())
        assert answered.status_code == 200, answered.text
    finally:
        loop_thread.run(agent.stop())

    # The answer is shown before the turn is recorded: wait until the history has it.
    turn = system.wait_history(conversation_id, answered.json()["instanceId"])
    [said] = [m for m in turn if m["role"] == "agent"]
    parts = said["parts"]
    # The list data part and both files, which a Task's first data object alone would lose.
    assert [p["data"] for p in parts if p["kind"] == "data"][0] == LIST_DATA
    files = [p for p in parts if p["kind"] == "file"]
    assert (files[0]["url"], files[1]["size"]) == (FILE_URL, len(FILE_BYTES))
