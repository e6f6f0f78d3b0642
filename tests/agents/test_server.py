"""The agents over HTTP: cards, /health, JSON-RPC answers, 0.3 compatibility, start-up errors."""

import logging
import socket

import pytest

from agents.catalog import AGENT_NAMES
from agents.server import AgentStartError, start_agents
from agents.settings import AgentSettings
from tests.agents.conftest import QUIET, ask, bearer

CARD_PATH = "/.well-known/agent-card.json"


async def test_all_six_start_on_their_own_ports(agents):
    assert list(agents.urls) == list(AGENT_NAMES)
    assert len(set(agents.urls.values())) == 6


async def test_health(agents, http):
    for name, url in agents.urls.items():
        response = await http.get(f"{url}/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "agent": name}


async def test_cards_are_complete_a2a_1_0_cards(agents, http):
    names = set()
    for url in agents.urls.values():
        card = (await http.get(f"{url}{CARD_PATH}")).json()
        names.add(card["name"])
        assert card["name"].startswith("Contoso ")
        assert card["description"]
        assert card["version"] == "1.0.0"
        assert card["supportedInterfaces"] == [
            {"url": f"{url}/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ]
        assert card["capabilities"]["streaming"] is False
        assert card["defaultInputModes"] == ["text/plain", "application/json"]
        assert card["defaultOutputModes"] == ["text/plain", "application/json"]
        assert "url" not in card, "no 0.3 top-level url unless compatibility is on"
        (skill,) = card["skills"]
        assert skill["id"] and skill["name"] and skill["tags"]
        assert "data part" in skill["description"]
        assert len(skill["examples"]) >= 2
        assert any(example.startswith("{") for example in skill["examples"])
    assert len(names) == 6


@pytest.mark.parametrize(
    ("name", "text", "status"),
    [
        (
            "authentication",
            "My name is Jane Doe, postal code M5H 1A1, born 1985-03-14.",
            "AUTHENTICATED",
        ),
        ("outage-check", "Is there an outage for customer CUST-0001?", "LOCAL_OUTAGE"),
        ("modem-check", "CUST-0005 sees a red light", "HARDWARE_FAULT"),
        ("internet-plan", "Are the bills of CUST-0011 paid?", "SUSPENDED"),
        ("network-performance", "slow internet, CUST-0005", "CRITICAL"),
        ("technical-dispatch", "Book a technician for CUST-0001", "BOOKED"),
    ],
)
async def test_free_text_requests(agents, http, name, text, status):
    answer = await ask(http, agents.urls[name], text=text)
    assert answer.data["status"] == status
    assert answer.text


@pytest.mark.parametrize("name", AGENT_NAMES)
async def test_a_missing_field_gets_a_completed_answer_naming_it(agents, http, name):
    answer = await ask(http, agents.urls[name], text="hello, my internet is broken")
    assert answer.data["status"] == "MISSING_FIELD"
    assert answer.data["missingFields"]
    assert all(field in answer.text for field in answer.data["missingFields"])
    assert answer.state in (None, "TASK_STATE_COMPLETED")


async def test_structured_request_and_whole_numbers(agents, http):
    answer = await ask(http, agents.urls["internet-plan"], data={"customerId": "CUST-0003"})
    assert answer.kind == "message"
    assert answer.data["overageGb"] == 50


async def test_a_request_without_the_version_header_is_refused(agents, http):
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}},
    }
    url = agents.urls["outage-check"]
    reply = (await http.post(f"{url}/a2a", json=body, headers=await bearer(http, url))).json()
    assert reply["error"]["code"] == -32009


async def test_traceparent_is_accepted_and_logged(agents, http, caplog):
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {
            "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "CUST-0002"}]}
        },
    }
    headers = {
        "A2A-Version": "1.0",
        "traceparent": traceparent,
        "x-correlation-id": "corr-1",
        **(await bearer(http, agents.urls["outage-check"])),
    }
    with caplog.at_level(logging.INFO, logger="agents.server"):
        response = await http.post(f"{agents.urls['outage-check']}/a2a", json=body, headers=headers)
        forged = dict(headers, traceparent="00-bad FAKE LOG LINE")
        await http.post(f"{agents.urls['outage-check']}/a2a", json=body, headers=forged)
    assert response.json()["result"]["message"]
    lines = [r.getMessage() for r in caplog.records if r.name == "agents.server"]
    assert f"traceparent={traceparent} correlation=corr-1" in lines[0]
    assert "traceparent=(invalid)" in lines[1]
    assert all("FAKE LOG LINE" not in line for line in lines)


async def test_v0_3_compatibility_serves_message_send(http):
    group = await start_agents(
        ["outage-check"], base_port=0, settings=QUIET, enable_v0_3_compat=True
    )
    try:
        url = group.urls["outage-check"]
        card = (await http.get(f"{url}{CARD_PATH}")).json()
        assert [i["protocolVersion"] for i in card["supportedInterfaces"]] == ["1.0", "0.3"]
        assert card["url"] == f"{url}/a2a"
        message = {
            "kind": "message",
            "messageId": "m-03",
            "role": "user",
            "parts": [{"kind": "data", "data": {"customerId": "CUST-0004"}}],
        }
        body = {"jsonrpc": "2.0", "id": 3, "method": "message/send", "params": {"message": message}}
        result = await http.post(f"{url}/a2a", json=body, headers=await bearer(http, url))
        result = result.json()["result"]
        assert result["kind"] == "message"
        data = next(part["data"] for part in result["parts"] if part["kind"] == "data")
        assert data["status"] == "REGIONAL_OUTAGE"
        # 1.0 still works on the same endpoint.
        assert (await ask(http, url, data={"customerId": "CUST-0004"})).data[
            "status"
        ] == "REGIONAL_OUTAGE"
    finally:
        await group.stop()


async def test_fixed_ports_follow_the_base_port_even_for_a_subset():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    # modem-check is offset 2 from the base port.
    group = await start_agents(["modem-check"], base_port=free - 2, settings=QUIET)
    try:
        assert group.urls == {"modem-check": f"http://127.0.0.1:{free}"}
    finally:
        await group.stop()


async def test_a_taken_port_is_a_clear_error_and_nothing_keeps_running():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            AgentStartError, match=f"authentication: cannot listen on 127.0.0.1:{port}"
        ):
            await start_agents(["authentication"], base_port=port, settings=QUIET)


async def test_unknown_agent_name():
    with pytest.raises(AgentStartError, match="unknown agent.*billing"):
        await start_agents(["billing"], base_port=0, settings=QUIET)


async def test_advertised_url_template_is_used_on_the_card(http):
    settings = AgentSettings(
        registration_enabled=False, public_base_url="https://{name}.contoso.example"
    )
    group = await start_agents(["modem-check"], base_port=0, settings=settings)
    try:
        assert group.urls == {"modem-check": "https://modem-check.contoso.example"}
        port = group.agents["modem-check"].server.servers[0].sockets[0].getsockname()[1]
        card = (await http.get(f"http://127.0.0.1:{port}{CARD_PATH}")).json()
        assert card["supportedInterfaces"][0]["url"] == "https://modem-check.contoso.example/a2a"
    finally:
        await group.stop()
