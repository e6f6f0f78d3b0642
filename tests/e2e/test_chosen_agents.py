"""Delegation to any agent (issue 16, first step): a hold-out a2a-sdk agent with a skill the code
has never seen is registered and admitted at run time, offered to the voice model in its tool,
and asked through `agents` with words and a stable contextId per conversation."""

from __future__ import annotations

import jsonschema
import pytest

from tests.contoso import CONTOSO
from tests.system import error_of
from tests.tide_agent import ANSWER, QUESTION, TideAgent
from tests.waiting import wait_until
from voicea2a.voice_session import GENERIC_INSTRUCTIONS

pytestmark = pytest.mark.azurite

NAME = "tide-tables"


@pytest.fixture
def asks_first() -> bool:
    """Whether the tide agent answers a new request with a question (tests parametrize it)."""
    return False


@pytest.fixture
def tide(system, loop_thread, asks_first):
    """The hold-out agent, registered by its own identity and admitted by a supervisor."""
    agent = TideAgent(asks_first=asks_first)
    loop_thread.run(agent.start())
    registered = system.app.http.post(
        "/api/agents", json={"url": agent.url}, headers=system.headers("agent-tides", ("agent",))
    )
    assert registered.status_code == 200, registered.text
    assert (registered.json()["name"], registered.json()["admission"]) == (NAME, "pending")
    admitted = system.app.http.post(
        f"/api/agents/{NAME}/admit", headers=system.headers("sam", ("supervisor",))
    )
    assert admitted.json()["admission"] == "admitted", admitted.text
    yield agent
    loop_thread.run(agent.stop())


def tool(system) -> dict:
    session = system.app.http.get("/api/voice/session", headers=system.headers()).json()
    [only] = session["session"]["tools"]
    return only


def health_of(system, name: str) -> str:
    agents = system.app.http.get("/api/agents", headers=system.headers()).json()["agents"]
    return next(agent["health"] for agent in agents if agent["name"] == name)


def ask(system, call_id: str, agents: list, conversation: str = "tides-1"):
    body = {
        "request": "When is high tide in Halifax?",
        "conversationId": conversation,
        "callId": call_id,
        "agents": agents,
    }
    return system.app.http.post("/api/messages", json=body, headers=system.headers())


def test_the_voice_tool_offers_exactly_the_admitted_healthy_agents(system):
    sample_agents = {agent["name"] for agent in system.wait_agents()}
    before = tool(system)
    assert (
        set(before["parameters"]["properties"]["agents"]["items"]["properties"]["name"]["enum"])
        == sample_agents
    )

    agent = TideAgent()
    system.loop.run(agent.start())
    try:
        system.app.http.post(
            "/api/agents",
            json={"url": agent.url},
            headers=system.headers("agent-tides", ("agent",)),
        )
        assert NAME not in str(tool(system))  # pending: not offered
        system.app.http.post(
            f"/api/agents/{NAME}/admit", headers=system.headers("sam", ("supervisor",))
        )
        after = tool(system)
    finally:
        system.loop.run(agent.stop())
    # Gone quiet: three failed probes in a row mark it down, and the tool no longer offers it.
    for _ in range(3):
        system.probe_agents()
    wait_until(lambda: health_of(system, NAME) == "unhealthy", 20, what="the tide agent down")
    assert NAME not in str(tool(system))

    jsonschema.Draft202012Validator.check_schema(after["parameters"])
    agents = after["parameters"]["properties"]["agents"]
    assert set(agents["items"]["properties"]["name"]["enum"]) == sample_agents | {NAME}
    assert agents["maxItems"] == 6
    assert "Tide tables (High and low tide times" in after["description"]
    assert '"When is high tide in Halifax today?"' in after["description"]


def test_a_chosen_agent_is_asked_in_words_in_one_context_per_conversation(system, tide):
    first = ask(system, "call-1", [{"name": NAME, "message": "High tide in Halifax today?"}])
    assert first.status_code == 200, first.text
    assert first.json()["answer"] == f"From the {NAME} agent: {ANSWER}"
    assert first.json()["agents"] == [NAME]

    second = ask(system, "call-2", [NAME])  # a plain name: it is sent the request itself
    other = ask(system, "call-3", [NAME], conversation="tides-2")
    assert second.status_code == other.status_code == 200

    first_turn, second_turn, other_conversation = (r.texts for r in tide.received)
    assert first_turn == ["High tide in Halifax today?"]  # a new conversation: no context
    # Then the last turn (CONTEXT_TURNS=1) comes first, as a text part of its own.
    assert second_turn == [
        "Earlier in this conversation:\n"
        f"Caller: When is high tide in Halifax?\nAssistant: From the {NAME} agent: {ANSWER}",
        "When is high tide in Halifax?",
    ]
    assert other_conversation == ["When is high tide in Halifax?"]
    contexts = [received.context_id for received in tide.received]
    assert contexts[0] == contexts[1] != contexts[2]  # one thread per conversation


def test_the_voice_model_cannot_vouch_for_a_customer(system, tide):
    response = ask(
        system, "call-v", [{"name": NAME, "data": {"customerId": "CUST-0001", "port": "Halifax"}}]
    )

    assert response.status_code == 200, response.text
    assert tide.received[-1].data == [{"port": "Halifax"}]


@pytest.mark.parametrize(
    ("agents", "message"),
    [
        (
            ["weather-oracle"],
            "Field 'agents[0]' names 'weather-oracle', which is not an admitted agent.",
        ),
        ([NAME, NAME], f"Field 'agents[1]' names '{NAME}' twice."),
        ([f"agent-{i}" for i in range(7)], "Field 'agents' must have at most 6 items."),
    ],
)
def test_bad_choices_are_refused_naming_them(system, tide, agents, message):
    response = ask(system, "call-bad", agents)

    assert response.status_code == 400
    assert error_of(response)["message"] == message
    assert tide.received == []


def post(system, request: str, call_id: str, conversation: str = "match-1"):
    body = {"request": request, "conversationId": conversation, "callId": call_id}
    return system.app.http.post("/api/messages", json=body, headers=system.headers())


def test_a_request_the_playbook_does_not_cover_goes_to_the_best_matching_agent(system, tide):
    first = post(system, "When is high tide in Halifax?", "match-1")
    second = post(system, "And the low tides tomorrow?", "match-2")

    assert first.status_code == second.status_code == 200, first.text
    assert first.json()["answer"] == f"From the {NAME} agent: {ANSWER}"
    assert second.json()["agents"] == [NAME]
    first_turn, second_turn = tide.received
    assert first_turn.texts == ["When is high tide in Halifax?"]
    assert second_turn.texts[-1] == "And the low tides tomorrow?"
    assert second_turn.texts[0].startswith("Earlier in this conversation:\nCaller: When is high")
    assert first_turn.context_id == second_turn.context_id  # the same thread, turn after turn


def test_a_request_nothing_matches_is_answered_with_what_the_network_can_do(system, tide):
    response = post(system, "Can you sing me a song?", "song-1")

    assert response.status_code == 200, response.text
    assert response.json()["answer"] == (
        f"{CONTOSO.answers.nothing_applicable} I can also ask the {NAME} agent (Tide tables)."
    )
    assert tide.received == []


@pytest.mark.parametrize("overrides", [{"PLAYBOOK": ""}])
def test_without_a_playbook_every_agent_is_reached_by_its_skills(system, tide):
    session = system.app.http.get("/api/voice/session", headers=system.headers()).json()
    # The playbook's instructions and fields are gone; the agents' own cards still speak.
    assert session["session"]["instructions"] == GENERIC_INSTRUCTIONS
    [only] = session["session"]["tools"]
    assert set(only["parameters"]["properties"]) == {"request", "agents"}

    tides = post(system, "When is high tide in Halifax?", "free-1", "free")
    outage = post(system, "Is there an outage near me?", "free-2", "free")
    vague = post(system, "Hello there", "free-3", "free")
    refused = system.app.http.post(
        "/api/messages",
        json={"request": "Down", "symptoms": ["no_internet"]},
        headers=system.headers(),
    )

    assert tides.json()["agents"] == [NAME]
    outage_agent = "contoso-outage-check-agent"  # its registry name, from its card's name
    assert outage.json()["agents"] == [outage_agent]
    assert outage.json()["answer"].startswith(f"From the {outage_agent}: ")
    question = vague.json()["answer"]
    assert question.startswith("I can ask the contoso-authentication-agent (Customer Auth")
    assert f"the {NAME} agent (Tide tables)" in question and question.endswith(
        "Which would you like?"
    )
    assert error_of(refused)["message"] == "Unknown field 'symptoms'."


@pytest.mark.parametrize("asks_first", [True])
def test_an_agent_waiting_for_input_gets_the_next_turn_in_the_same_task(system, tide):
    question = post(system, "When is high tide?", "ask-1", "asking")
    answer = post(system, "Halifax", "ask-2", "asking")  # matches no skill: it is the answer
    named = ask(system, "ask-3", [NAME], conversation="asking")  # the task has ended

    assert question.json()["answer"] == f"From the {NAME} agent: {QUESTION}"
    assert answer.json()["answer"] == f"From the {NAME} agent: {ANSWER}"
    assert named.json()["answer"] == f"From the {NAME} agent: {QUESTION}"  # a new task asks
    first, second, third = tide.received
    assert first.task_id is None and second.task_id is not None and third.task_id is None
    assert second.texts[-1] == "Halifax"
    assert first.context_id == second.context_id == third.context_id
