"""Agents failing in every way an A2A server can: the caller still gets a (partial) spoken
answer within the deadline, the turn is in the conversation history in full, and no
orchestration is left running.

The agents' own fault knobs (`POST {agent}/_faults`) give hangs, 5xx and malformed JSON-RPC;
a stand-in agent (fake_agent.py) gives a 5 MB reply and a card that changes between probes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

from devhost.durable.history import EventType
from orchestrations.contract import CALL_SPECIALIST, RECORD_TURN
from tests.faults.fake_agent import FakeAgent
from tests.system import BASE_SETTINGS, assert_turn_complete

pytestmark = pytest.mark.azurite

AGENT_TIMEOUT = timedelta(seconds=float(BASE_SETTINGS["AGENT_TIMEOUT_SECONDS"]))
# What an answer must never carry: internal reasons, addresses, exception text.
NEVER_SPOKEN = ("127.0.0.1", "http", "Traceback", "JSON", "bytes", "Error")


def partial_answer(system, response: httpx.Response, fragment: str, statuses: set[str]) -> dict:
    """The answer is partial and says nothing internal; the status route has it too; the turn
    is recorded in full, with the failing agent's outcome; nothing is left running."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["partial"] is True and body["answer"], body
    for word in NEVER_SPOKEN:
        assert word not in body["answer"], (word, body["answer"])

    # The answer is returned as soon as it is composed; the turn is recorded right after.
    done = system.wait_done(body["instanceId"])
    assert done["status"] == "completed" and done["answer"] == body["answer"], done

    turn = system.wait_history(body["conversationId"], body["instanceId"])
    assert_turn_complete(turn, body)
    outcomes = {m["agent"]: m["status"] for m in turn if m["role"] == "agent"}
    failing = {agent: s for agent, s in outcomes.items() if fragment in agent}
    assert failing and set(failing.values()) <= statuses, outcomes
    others = {agent: s for agent, s in outcomes.items() if fragment not in agent}
    assert others and set(others.values()) == {"completed"}, outcomes

    assert system.stuck_instances() == {}
    return body


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class CallRecord:
    """One agent's call as the delegation's history records it: in the order things happened,
    with the orchestrator's own times (never a clock read by the test)."""

    called_at: datetime
    deadline: datetime  # when the deadline timer set with the call is due
    answered: bool  # the agent's answer came back, late or not
    ended_before_deadline: bool  # it came before that timer fired
    composed_at: datetime  # when the answer was composed (the episode that records the turn)


def call_record(system, instance_id: str, fragment: str) -> CallRecord:
    """The only call to the agent named with `fragment` in the delegation's history."""
    history = system.app.engine.instances[instance_id].history
    scheduled = [
        (index, event)
        for index, event in enumerate(history)
        if event["EventType"] == EventType.TASK_SCHEDULED
    ]
    [(position, call)] = [
        (index, event)
        for index, event in scheduled
        if event["Name"] == CALL_SPECIALIST and fragment in json.loads(event["Input"])["agent"]
    ]
    # The stage's deadline timer (one per distinct deadline: all its agents share it) was created
    # with the call, in the same episode.
    starts = [i for i, e in enumerate(history) if e["EventType"] == EventType.ORCHESTRATOR_STARTED]
    first = max(i for i in starts if i < position)
    episode = history[first : min((i for i in starts if i > position), default=len(history))]
    timers = [e for e in episode if e["EventType"] == EventType.TIMER_CREATED]
    assert len({e["FireAt"] for e in timers}) == 1, timers
    timer_ids = {e["EventId"] for e in timers}
    ends = [
        (index, event)
        for index, event in enumerate(history)
        if event["EventType"] in (EventType.TASK_COMPLETED, EventType.TASK_FAILED)
        and event["TaskScheduledId"] == call["EventId"]
    ]
    fired = [
        index
        for index, event in enumerate(history)
        if event["EventType"] == EventType.TIMER_FIRED and event["TimerId"] in timer_ids
    ]
    # The orchestrator composes the answer and schedules the turn's record in the same episode.
    [record] = [event for _, event in scheduled if event["Name"] == RECORD_TURN]
    return CallRecord(
        called_at=moment(call["Timestamp"]),
        deadline=moment(timers[0]["FireAt"]),
        answered=any(
            event["EventType"] == EventType.TASK_COMPLETED
            and json.loads(event["Result"])["state"] != "failed"
            for _, event in ends
        ),
        ended_before_deadline=bool(ends) and (not fired or ends[0][0] < fired[0]),
        composed_at=moment(record["Timestamp"]),
    )


def test_an_agent_refusing_connections(system, loop_thread):
    url = system.agents.urls["outage-check"]
    loop_thread.run(system.agents.agents["outage-check"].server.shutdown())
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", timeout=2)

    response = system.ask("CUST-0001", ["no_internet"])

    body = partial_answer(system, response, "outage", {"failed"})
    assert "couldn't" in body["answer"].lower()


def test_an_agent_hanging_past_its_deadline(system):
    system.faults("network-performance", hang=True)

    response = system.ask("CUST-0003", ["slow_internet"])

    body = partial_answer(system, response, "network", {"timed-out"})
    # The stage waited for the hanging agent up to its deadline, and for nothing after it: the
    # answer was composed once the deadline passed, without an answer from that agent.
    call = call_record(system, body["instanceId"], "network")
    assert call.deadline == call.called_at + AGENT_TIMEOUT
    assert call.composed_at >= call.deadline, call
    assert not call.ended_before_deadline, call
    assert not call.answered, call


def test_an_agent_answering_5xx(system):
    system.faults("modem-check", failureRate=1, failureMode="http")

    response = system.ask("CUST-0002", ["modem_lights"], ledState="red")

    partial_answer(system, response, "modem", {"failed"})


def test_an_agent_answering_malformed_jsonrpc(system):
    system.faults("internet-plan", malformedRate=1)

    response = system.ask("CUST-0010", ["billing_question"])

    partial_answer(system, response, "plan", {"failed"})


@pytest.fixture
def fake_plan_agent(system, loop_thread):
    """The stand-in, registered in place of the internet-plan agent (same card name) by the
    identity that owns that name."""
    fake = FakeAgent(system.agents.urls["internet-plan"])
    loop_thread.run(fake.start())
    owner = system.headers("agent-internet-plan", ("agent",))
    registered = system.app.http.post("/api/agents", json={"url": fake.url}, headers=owner)
    assert registered.status_code == 200, registered.text
    fake.name = registered.json()["name"]
    assert "plan" in fake.name and fake.card_fetches == 1
    yield fake
    loop_thread.run(fake.stop())


@pytest.mark.parametrize("reply", ["huge", "huge-chunked"])
def test_a_5_mb_reply_is_cut_off_at_the_cap(system, fake_plan_agent, reply):
    fake_plan_agent.reply = reply

    response = system.ask("CUST-0010", ["billing_question"])

    body = partial_answer(system, response, "plan", {"failed"})
    # The activity reported the cap (A2A_RESPONSE_MAX_BYTES, 1 MiB), and the call was not
    # retried: the agent would send the same reply again.
    history = json.dumps(system.app.engine.instances[body["instanceId"]].history)
    assert "is larger than 1048576 bytes" in history
    assert fake_plan_agent.rpc_calls == 1
    # Cut off as soon as the cap was passed: the call ended before its deadline.
    assert call_record(system, body["instanceId"], "plan").ended_before_deadline


def plan_agent(system, name: str) -> dict:
    agents = system.app.http.get("/api/agents", headers=system.headers()).json()["agents"]
    return next(a for a in agents if a["name"] == name)


def tool_description(system) -> str:
    session = system.app.http.get("/api/voice/session", headers=system.headers()).json()
    return session["session"]["tools"][0]["description"]


def test_a_card_that_changes_between_probes(system, fake_plan_agent):
    name = fake_plan_agent.name
    assert name in tool_description(system)

    # A new version and description: the probe stores the card it fetched.
    fake_plan_agent.card_changes = {"version": "9.9.9", "description": "Plans, bills (v9)."}
    system.probe_agents()
    agent = plan_agent(system, name)
    assert (agent["version"], agent["description"], agent["health"]) == (
        "9.9.9",
        "Plans, bills (v9).",
        "healthy",
    )

    # The card now names another agent: that registration is failing, not renamed.
    fake_plan_agent.card_changes = {"name": "Somebody Else Entirely"}
    system.probe_agents()
    assert plan_agent(system, name)["health"] == "unhealthy"
    assert name not in tool_description(system)
    response = system.ask("CUST-0010", ["billing_question"])
    body = response.json()
    assert response.status_code == 200 and body["partial"] is True, body
    assert fake_plan_agent.rpc_calls == 0  # an unhealthy agent is not planned
    turn = system.wait_history(body["conversationId"], body["instanceId"])
    assert_turn_complete(turn, body)

    # The card is back: the next probe heals it, and it is planned again.
    fake_plan_agent.card_changes = {}
    system.probe_agents()
    assert plan_agent(system, name)["health"] == "healthy"
    body = system.ask("CUST-0010", ["billing_question"]).json()
    assert body["partial"] is False, body
    assert fake_plan_agent.rpc_calls == 1
    assert system.stuck_instances() == {}


@pytest.mark.parametrize(
    "overrides", [{"TURN_DEADLINE_SECONDS": "2", "AGENT_TIMEOUT_SECONDS": "60"}]
)
def test_the_turn_deadline_bounds_a_slow_stage_then_a_hanging_one(system):
    # Each call alone may take a minute; the turn as a whole may not.
    system.faults("authentication", latencyMs=800)
    system.faults("network-performance", hang=True)

    response = system.ask("CUST-0003", ["slow_internet"])

    # Answered within the sync wait (8 s): composed from what was done when the turn ran out.
    body = partial_answer(system, response, "network", {"timed-out"})
    assert any("authentication" in agent for agent in body["agents"]), body
