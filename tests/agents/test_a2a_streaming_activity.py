"""The `call_specialist` activity with streaming peers (issue 16, item 6): every part reaches the
orchestrator as JSON (a file's bytes never do), a streaming agent's progress is published live as
`agent.status` `working` events valid against docs/events.schema.json, then its outcome (issue
19), and a silent agent is a retryable time-out."""

import json
from pathlib import Path

import jsonschema
import pytest

from activities.specialists import call_specialist
from tests.a2a_peers import FILE_BYTES, multi_artifact_agent, slow_agent
from tests.agents.test_a2a_streaming_peers import EXPECTED_PARTS
from voicea2a import publisher
from voicea2a.a2a import fetch_card
from voicea2a.events import Event

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "events.schema.json").read_text())
CALL = call_specialist.build().get_user_function()
LIMITS = {"timeout": 10.0, "max_bytes": 1_000_000}


@pytest.fixture
def published(app_env, monkeypatch):
    """The events the activity publishes, instead of sending them to Web PubSub."""
    app_env()
    events: list[Event] = []

    async def publish(event: Event) -> bool:
        events.append(event)
        return True

    monkeypatch.setattr(publisher, "publish", publish)
    return events


async def call(arguments):
    """Call the activity and wait for the events it left publishing."""
    result = await CALL(arguments)
    await publisher.lanes_sent()
    return result


def call_of(card, **extra):
    return {
        "agent": "slow",
        "skill": "check",
        "card": dict(card.raw),
        "data": {},
        "text": "is the line down?",
        "context": None,
        "taskId": None,
        "contextId": None,
        "attempt": 1,
        "timeoutSeconds": 10.0,
        "maxBytes": 1_000_000,
        "silenceSeconds": 2.0,
        "correlationId": "corr-1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "conversationId": "conv-1",
        "callId": "call-1",
        "instanceId": "dlg-0123456789abcdef",
        "user": "ada",
        **extra,
    }


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_every_part_reaches_the_orchestrator_as_json(version, published, http):
    async with multi_artifact_agent(version) as agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        result = await call(call_of(card))
    assert result["state"] == "completed"
    assert result["parts"] == EXPECTED_PARTS
    # What Durable stores in the history: plain JSON, without the file's bytes.
    stored = json.dumps(result)
    assert json.loads(stored)["parts"] == EXPECTED_PARTS
    assert FILE_BYTES.decode() not in stored and "JVBERi" not in stored
    # The one working update ("gathering"), then the outcome.
    assert [event.data for event in published] == [
        {"status": "working", "attempt": 1, "message": "gathering"},
        {"status": "completed"},
    ]
    assert result["announced"] is True


async def test_progress_is_published_live_as_agent_status_events(published, http):
    agent, _ = slow_agent(updates=3, interval=0.2)
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        result = await call(call_of(card, attempt=2))
    assert (result["state"], result["retryable"]) == ("completed", False)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for event in published:
        validator.validate(event.envelope())
        assert (event.type, event.agent, event.call_id, event.owner) == (
            "agent.status",
            "slow",
            "call-1",
            "ada",
        )
    # Published one at a time, in order, beside the stream; then the outcome.
    assert [e.data for e in published] == [
        *({"status": "working", "attempt": 2, "message": f"checking {i}/3"} for i in (1, 2, 3)),
        {"status": "completed"},
    ]


async def test_a_silent_streaming_agent_is_a_retryable_time_out(published, http):
    agent, executor = slow_agent(updates=1, interval=0.0, hang=True)
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        try:
            result = await call(call_of(card, silenceSeconds=0.3))
        finally:
            executor.release.set()
    assert (result["state"], result["kind"], result["retryable"]) == ("failed", "timeout", True)
    assert "sent no event for 0.3 s" in result["error"]
    # Retrying is the orchestrator's decision: it announces what comes next.
    assert result["announced"] is False
    assert [event.data["status"] for event in published] == ["working"]


async def test_outside_a_delegation_progress_is_not_published(published, http):
    agent, _ = slow_agent(updates=2, interval=0.0)
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        result = await call(call_of(card, user=None, conversationId=None))
    assert result["state"] == "completed"
    assert published == []
    assert result["announced"] is False


async def test_the_events_handed_over_go_first_and_the_outcome_last(published, http):
    agent, _ = slow_agent(updates=1, interval=0.0)
    started = {
        "type": "agent.status",
        "id": "e" * 32,
        "time": "2026-12-03T07:00:00+00:00",
        "owner": "ada",
        "conversationId": "conv-1",
        "callId": "call-1",
        "instanceId": "dlg-0123456789abcdef",
        "correlationId": "corr-1",
        "agent": "slow",
        "data": {"status": "started", "attempt": 1},
    }
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        first = await call(call_of(card, events=[started]))
        again = await call(call_of(card))
    assert [e.data["status"] for e in published] == [
        "started",
        "working",
        "completed",
        "working",
        "completed",
    ]
    assert published[0].id == "e" * 32  # the orchestrator's id, kept
    # A re-run of the same step announces under the same id: the page shows it once.
    assert published[2].id == published[4].id
    assert first["announced"] and again["announced"]


async def test_an_outcome_after_the_step_deadline_is_left_to_the_orchestrator(published, http):
    agent, _ = slow_agent(updates=1, interval=0.0)
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        result = await call(call_of(card, deadline="2026-01-01T00:00:00+00:00"))
    assert result["state"] == "completed" and result["announced"] is False
    assert [e.data["status"] for e in published] == ["working"]
