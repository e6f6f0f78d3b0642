"""People in the loop without holding the call (issue 17, items 1 and 2): an agent's question for
a person does not hold the answer; a supervisor approves, rejects or replies in words; what the
agent then says arrives as a follow-up (a `message` event with the original callId, the status
route, the turn's history)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.e2e.recorder import ROOT, approval_requested, record_events
from tests.system import error_of
from tests.tide_agent import ANSWER, QUESTION, TideAgent

pytestmark = pytest.mark.azurite

SCHEMA = json.loads((ROOT / "docs" / "events.schema.json").read_text())
SAM = ("sam", ("supervisor",))
TIDES = "tide-tables"
APPROVAL_PENDING = "needs a supervisor's approval"


def is_follow_up(event: dict) -> bool:
    return event["type"] == "message" and event["data"].get("followUp") is True


def history(system, conversation_id: str) -> list[dict]:
    response = system.app.http.get(
        f"/api/conversations/{conversation_id}", headers=system.headers()
    )
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def waiting_for_a_supervisor(system, instance_id: str) -> dict:
    return system.wait_status(
        instance_id,
        lambda status: status["progress"].get("stage") == "awaiting-approval",
        "the supervisor asked",
    )


def test_a_dispatch_answers_at_once_and_follows_up_after_a_supervisors_reply(system):
    owner = record_events(system)
    supervisor = record_events(system, *SAM)

    # A customer seen within 30 days: the visit needs a supervisor.
    response = system.ask("CUST-0010", ["technician_visit"])

    assert response.status_code == 200, response.text  # within the sync wait, not 202
    first = response.json()
    assert APPROVAL_PENDING in first["answer"]
    assert len(first["agents"]) >= 2  # the diagnostics are in it too, not held back
    instance_id, call_id = first["instanceId"], first["callId"]
    status = waiting_for_a_supervisor(system, instance_id)
    assert status["answer"] == first["answer"]
    [requested] = [
        e for e in supervisor.of(call_id, until=approval_requested) if approval_requested(e)
    ]
    assert requested["agent"] == "contoso-technical-dispatch-agent"
    # Until the supervisor answers, the history shows the dispatch waiting for a person.
    rows = history(system, first["conversationId"])
    dispatch = [m for m in rows if m.get("agent") == "contoso-technical-dispatch-agent"]
    assert [m["status"] for m in dispatch] == ["awaiting-person"]

    replied = system.app.http.post(
        f"/api/approvals/{instance_id}",
        json={"reply": "Approved: this customer has had two outages this month."},
        headers=system.headers(*SAM),
    )

    assert replied.status_code == 202, replied.text
    assert replied.json() == {"instanceId": instance_id, "reply": True}
    [follow_up] = [e for e in owner.of(call_id, until=is_follow_up) if is_follow_up(e)]
    assert follow_up["callId"] == call_id and follow_up["instanceId"] == instance_id
    assert "book" in follow_up["data"]["text"].lower()
    jsonschema.validate(follow_up, SCHEMA)
    resolved = [e for e in supervisor.events if e["type"] == "approval.resolved"]
    assert [e["data"]["outcome"] for e in resolved] == ["replied"]
    assert resolved[0]["data"]["reply"].startswith("Approved: this customer")
    owner.stop()
    supervisor.stop()

    done = system.wait_done(instance_id)
    assert done["answer"] == first["answer"]
    assert [f["answer"] for f in done["followUps"]] == [follow_up["data"]["text"]]
    rows = history(system, first["conversationId"])
    said = [(m["text"], m.get("followUp", False)) for m in rows if m["role"] == "assistant"]
    assert said == [(first["answer"], False), (follow_up["data"]["text"], True)]
    dispatch = [m for m in rows if m.get("agent") == "contoso-technical-dispatch-agent"]
    assert [m["status"] for m in dispatch] == ["completed"]
    assert dispatch[0]["data"]["status"] == "BOOKED"


def test_replying_to_a_request_that_ended_is_409_and_a_reply_too_long_is_400(system):
    response = system.ask("CUST-0010", ["technician_visit"])
    instance_id = response.json()["instanceId"]
    waiting_for_a_supervisor(system, instance_id)
    sam = system.headers(*SAM)

    too_long = system.app.http.post(
        f"/api/approvals/{instance_id}", json={"reply": "x" * 2001}, headers=sam
    )
    both = system.app.http.post(
        f"/api/approvals/{instance_id}", json={"reply": "ok", "approve": True}, headers=sam
    )
    assert too_long.status_code == 400
    assert error_of(too_long)["message"] == "Field 'reply' must be at most 2000 characters."
    assert (
        both.status_code == 400
        and "exactly one of 'approve' or 'reply'" in error_of(both)["message"]
    )
    # Neither lost the request: it still waits, and a decision still counts.
    assert system.status(instance_id).json()["progress"]["stage"] == "awaiting-approval"
    decided = system.app.http.post(
        f"/api/approvals/{instance_id}", json={"approve": True}, headers=sam
    )
    assert decided.status_code == 202, decided.text
    assert system.wait_done(instance_id)["status"] == "completed"

    late = system.app.http.post(
        f"/api/approvals/{instance_id}", json={"reply": "Too late?"}, headers=sam
    )

    assert late.status_code == 409
    assert error_of(late)["code"] == "conflict"
    assert "no longer waiting" in error_of(late)["message"]


@pytest.fixture
def tides_for_a_person(system, loop_thread):
    """The hold-out tide agent, its question tagged for a person, registered and admitted."""
    agent = TideAgent(for_a_person=True)
    loop_thread.run(agent.start())
    registered = system.app.http.post(
        "/api/agents", json={"url": agent.url}, headers=system.headers("agent-tides", ("agent",))
    )
    assert registered.status_code == 200, registered.text
    admitted = system.app.http.post(f"/api/agents/{TIDES}/admit", headers=system.headers(*SAM))
    assert admitted.json()["admission"] == "admitted", admitted.text
    yield agent
    loop_thread.run(agent.stop())


def ask_tides(system, call_id: str):
    body = {
        "request": "When is high tide?",
        "conversationId": f"conversation-{call_id}",
        "callId": call_id,
        "agents": [TIDES],
    }
    response = system.app.http.post("/api/messages", json=body, headers=system.headers())
    assert response.status_code == 200, response.text
    return response.json()


def test_any_agents_question_for_a_person_reaches_supervisors_and_a_reply_continues_it(
    system, tides_for_a_person
):
    supervisor = record_events(system, *SAM)
    first = ask_tides(system, "call-tides-1")

    assert first["answer"] == (
        f"The {TIDES} agent is waiting for a person to answer; I'll tell you as soon as they do."
    )
    instance_id = first["instanceId"]
    waiting_for_a_supervisor(system, instance_id)
    [requested] = [
        e for e in supervisor.of("call-tides-1", until=approval_requested) if approval_requested(e)
    ]
    assert (requested["agent"], requested["data"]["reason"]) == (TIDES, QUESTION)
    listed = system.app.http.get("/api/approvals", headers=system.headers(*SAM)).json()
    assert [(a["agent"], a["reason"]) for a in listed["approvals"]] == [(TIDES, QUESTION)]
    supervisor.stop()

    system.app.http.post(
        f"/api/approvals/{instance_id}", json={"reply": "Halifax"}, headers=system.headers(*SAM)
    )
    done = system.wait_done(instance_id)

    assert [f["answer"] for f in done["followUps"]] == [f"From the {TIDES} agent: {ANSWER}"]
    asked, continued = tides_for_a_person.received
    assert continued.texts == ["Halifax"] and continued.task_id is not None
    assert continued.context_id == asked.context_id


@pytest.mark.parametrize("overrides", [{"APPROVAL_TIMEOUT_MINUTES": "0.03"}])
def test_a_question_nobody_answers_expires_with_a_timeout_follow_up(system, tides_for_a_person):
    owner = record_events(system)
    first = ask_tides(system, "call-tides-2")

    [follow_up] = [e for e in owner.of("call-tides-2", until=is_follow_up) if is_follow_up(e)]
    owner.stop()

    assert follow_up["data"]["text"].startswith(
        f"Nobody answered the {TIDES} agent's question in time."
    )
    assert (
        system.wait_done(first["instanceId"])["followUps"][0]["answer"] == follow_up["data"]["text"]
    )
    # The agent was told so, on the same task.
    assert tides_for_a_person.received[-1].texts == ["No supervisor answered in time."]
    rows = history(system, first["conversationId"])
    assert [m.get("followUp", False) for m in rows if m["role"] == "assistant"] == [False, True]
