"""Who may be routed to (issue 15, F1): admission, name ownership and explicit skill choice,
end to end with the real sample agents and an impostor agent on loopback."""

from __future__ import annotations

import pytest
from azure.data.tables import TableServiceClient

from tests.faults.fake_agent import FakeAgent
from tests.system import error_of

pytestmark = pytest.mark.azurite

AUTH_AGENT = "contoso-authentication-agent"


@pytest.fixture
def system_options() -> dict:
    # The agents register once at start: a heartbeat would undo a test's own registrations.
    return {"heartbeat_seconds": 3600}


@pytest.fixture
def impostor(system, loop_thread):
    """An agent serving the authentication agent's card (its name and skills) from elsewhere,
    counting the JSON-RPC calls it receives."""
    fake = FakeAgent(system.agents.urls["authentication"])
    loop_thread.run(fake.start())
    yield fake
    loop_thread.run(fake.stop())


def names(system, user: str = "ada", roles: tuple[str, ...] = ("user",)) -> dict[str, dict]:
    response = system.app.http.get("/api/agents", headers=system.headers(user, roles))
    assert response.status_code == 200, response.text
    return {agent["name"]: agent for agent in response.json()["agents"]}


def supervisor(system) -> dict[str, str]:
    return system.headers("sam", ("supervisor",))


def audit_rows(azurite) -> list[dict]:
    table = TableServiceClient.from_connection_string(azurite.connection_string)
    return list(table.get_table_client("audit").list_entities())


def test_the_sample_agents_are_admitted_through_the_allow_list(system):
    agents = names(system, "sam", ("supervisor",))
    assert len(agents) == 6
    assert {agent["admission"] for agent in agents.values()} == {"admitted"}
    assert agents[AUTH_AGENT]["owner"] == "agent-authentication"
    assert "admission" not in names(system)[AUTH_AGENT]  # users see no admission details


def test_an_impostor_cannot_take_over_a_registered_name(system, impostor, azurite):
    taken = system.app.http.post(
        "/api/agents", json={"url": impostor.url}, headers=system.headers("agent-evil", ("agent",))
    )
    assert taken.status_code == 409
    assert error_of(taken)["code"] == "conflict"
    assert any(
        row["user"] == "agent-evil" and row["kind"] == f"agent-registration:{AUTH_AGENT}"
        for row in audit_rows(azurite)
    )
    # Even a supervisor cannot re-point a name another identity owns: remove it first.
    assert (
        system.app.http.post(
            "/api/agents", json={"url": impostor.url}, headers=supervisor(system)
        ).status_code
        == 409
    )

    response = system.ask("CUST-0001", ["no_internet"])
    assert response.status_code == 200, response.text
    assert impostor.rpc_calls == 0  # Jane Doe's identity never reached it
    assert "verified" in response.json()["answer"].lower()


def test_a_new_agent_offering_a_known_skill_waits_for_a_supervisor(system, impostor):
    # Same skills, new name: pending, invisible to users, never routed to.
    impostor.card_changes = {"name": "Helpful Identity Agent"}
    registered = system.app.http.post(
        "/api/agents", json={"url": impostor.url}, headers=system.headers("agent-new", ("agent",))
    )
    assert registered.status_code == 200, registered.text
    assert registered.json()["admission"] == "pending"
    name = registered.json()["name"]
    assert name not in names(system)
    assert names(system, "sam", ("supervisor",))[name]["admission"] == "pending"
    assert system.ask("CUST-0001", ["no_internet"]).status_code == 200
    assert impostor.rpc_calls == 0

    # Admitted, it still does not take the skill: the agent admitted first keeps it.
    admit = f"/api/agents/{name}/admit"
    admitted = system.app.http.post(admit, headers=supervisor(system))
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["admission"] == "admitted"
    assert name in names(system)
    assert system.ask("CUST-0001", ["no_internet"]).status_code == 200
    assert impostor.rpc_calls == 0

    # The supervisor gives it priority: now it answers authentication (once per turn).
    raised = system.app.http.post(admit, json={"priority": 5}, headers=supervisor(system))
    assert raised.json()["priority"] == 5
    assert system.ask("CUST-0001", ["no_internet"]).status_code == 200
    assert impostor.rpc_calls == 1


def test_a_supervisors_registration_is_admitted_at_once(system, impostor):
    impostor.card_changes = {"name": "Supervised Agent"}
    registered = system.app.http.post(
        "/api/agents", json={"url": impostor.url}, headers=supervisor(system)
    )
    assert registered.status_code == 200, registered.text
    assert registered.json()["admission"] == "admitted"
    assert names(system)["supervised-agent"]["health"] == "healthy"


def test_admission_is_for_supervisors_and_checks_its_input(system):
    admit = f"/api/agents/{AUTH_AGENT}/admit"
    forbidden = system.app.http.post(admit, headers=system.headers("agent-x", ("agent",)))
    assert forbidden.status_code == 403
    for body, status in (
        ({"priority": "high"}, 400),
        ({"priority": 10**6}, 400),
        ({"priority": True}, 400),
        ({"rank": 1}, 400),
    ):
        response = system.app.http.post(admit, json=body, headers=supervisor(system))
        assert response.status_code == status, body
        assert error_of(response)["code"] == "invalid_request"
    missing = system.app.http.post("/api/agents/nobody/admit", headers=supervisor(system))
    assert missing.status_code == 404


@pytest.mark.parametrize("name", ["%2F", "%3F", "a" * 65, "UPPER", "-x", "x--"])
def test_names_that_cannot_exist_are_not_found(system, name):
    for method, path in (("DELETE", f"/api/agents/{name}"), ("POST", f"/api/agents/{name}/admit")):
        response = system.app.http.request(method, path, headers=supervisor(system))
        assert response.status_code == 404, (method, path, response.text)
        assert error_of(response)["code"] == "not_found"
    assert len(names(system)) == 6


def test_a_refused_credential_takes_the_agent_out_until_it_registers_again(system, loop_thread):
    from voicea2a import registry

    loop_thread.run(registry.record_credential_refused(AUTH_AGENT, 401))
    agent = names(system, "sam", ("supervisor",))[AUTH_AGENT]
    assert agent["problem"] == "credential refused (HTTP 401)"
    routable = loop_thread.run(registry.routable_agents())
    assert AUTH_AGENT not in {record.name for record in routable}

    again = system.app.http.post(
        "/api/agents",
        json={"url": system.agents.urls["authentication"]},
        headers=system.headers("agent-authentication", ("agent",)),
    )
    assert again.status_code == 200, again.text
    assert names(system, "sam", ("supervisor",))[AUTH_AGENT]["problem"] is None
