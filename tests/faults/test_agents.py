"""Agents failing in every way an A2A server can: the caller still gets a (partial) spoken
answer within the deadline, the turn is in the conversation history in full, and no
orchestration is left running.

The agents' own fault knobs (`POST {agent}/_faults`) give hangs, 5xx and malformed JSON-RPC;
a stand-in agent (fake_agent.py) gives a 5 MB reply and a card that changes between probes.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.faults.fake_agent import FakeAgent
from tests.system import assert_turn_complete

pytestmark = pytest.mark.azurite

AGENT_TIMEOUT = 3  # AGENT_TIMEOUT_SECONDS of the suite (harness.BASE_SETTINGS)
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

    started = time.monotonic()
    response = system.ask("CUST-0003", ["slow_internet"])
    elapsed = time.monotonic() - started

    partial_answer(system, response, "network", {"timed-out"})
    # The stage costs its slowest agent, bounded by the deadline (plus authentication first).
    assert AGENT_TIMEOUT <= elapsed < AGENT_TIMEOUT + 4, elapsed


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

    started = time.monotonic()
    response = system.ask("CUST-0010", ["billing_question"])

    body = partial_answer(system, response, "plan", {"failed"})
    # The activity reported the cap (A2A_RESPONSE_MAX_BYTES, 1 MiB), and the call was not
    # retried: the agent would send the same reply again.
    history = json.dumps(system.app.engine.instances[body["instanceId"]].history)
    assert "is larger than 1048576 bytes" in history
    assert fake_plan_agent.rpc_calls == 1
    assert time.monotonic() - started < AGENT_TIMEOUT + 2


def probe_agents(system) -> None:
    """Run the health job now (the devhost's admin API, as the Functions host offers)."""
    fired = system.app.http.post("/admin/functions/agent_health")
    assert fired.status_code == 202, fired.text


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
    probe_agents(system)
    agent = plan_agent(system, name)
    assert (agent["version"], agent["description"], agent["health"]) == (
        "9.9.9",
        "Plans, bills (v9).",
        "healthy",
    )

    # The card now names another agent: that registration is failing, not renamed.
    fake_plan_agent.card_changes = {"name": "Somebody Else Entirely"}
    probe_agents(system)
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
    probe_agents(system)
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
