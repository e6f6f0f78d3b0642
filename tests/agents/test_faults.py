"""Fault knobs: from settings at start and via /_faults at run time (only when enabled)."""

import asyncio
from dataclasses import replace

import httpx
import pytest

from agents.faults import FaultConfig, FaultConfigError, FaultInjector
from agents.server import start_agents
from tests.agents.conftest import QUIET, ask, bearer
from tests.waiting import wait_until_async

ENABLED = replace(QUIET, faults_enabled=True)
MESSAGE = {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "CUST-0002"}]}
BODY = {"jsonrpc": "2.0", "id": "req-7", "method": "SendMessage", "params": {"message": MESSAGE}}


async def start(settings):
    group = await start_agents(["outage-check"], base_port=0, settings=settings)
    return group, group.urls["outage-check"]


async def post_rpc(http, url, **kwargs):
    headers = {"A2A-Version": "1.0", **(await bearer(http, url))}
    return await http.post(f"{url}/a2a", json=BODY, headers=headers, **kwargs)


@pytest.fixture
async def faulty():
    group, url = await start(ENABLED)
    yield url
    await group.stop()


async def test_faults_route_is_404_unless_enabled(http):
    group, url = await start(QUIET)
    try:
        assert (await http.get(f"{url}/_faults")).status_code == 404
        assert (await http.post(f"{url}/_faults", json={"hang": True})).status_code == 404
        assert (await post_rpc(http, url)).status_code == 200
    finally:
        await group.stop()


async def test_read_and_replace_the_faults(faulty, http):
    assert (await http.get(f"{faulty}/_faults")).json() == FaultConfig().to_json()
    response = await http.post(f"{faulty}/_faults", json={"latencyMs": 5, "seed": 3})
    assert response.json()["latencyMs"] == 5
    # A POST replaces the whole set: omitted fields go back to off.
    await http.post(f"{faulty}/_faults", json={"failureRate": 0.5})
    current = (await http.get(f"{faulty}/_faults")).json()
    assert (current["latencyMs"], current["failureRate"], current["seed"]) == (0, 0.5, 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"failureRate": 2}, "failureRate must be a number from 0 to 1"),
        ({"latencyMs": -1}, "latencyMs must be an integer"),
        ({"latencyMs": True}, "latencyMs must be an integer"),
        ({"failureMode": "smoke"}, "failureMode must be one of"),
        ({"hang": "yes"}, "hang must be true or false"),
        ({"explode": 1}, "unknown fault field(s): explode"),
        ([1, 2], "must be a JSON object"),
    ],
)
async def test_invalid_faults_are_refused(faulty, http, body, message):
    response = await http.post(f"{faulty}/_faults", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


async def test_a_body_that_is_not_json_is_refused(faulty, http):
    response = await http.post(f"{faulty}/_faults", content=b"{nope")
    assert (response.status_code, response.json()) == (400, {"error": "body is not JSON"})


async def test_injected_json_rpc_failure(faulty, http):
    await http.post(f"{faulty}/_faults", json={"failureRate": 1})
    response = await post_rpc(http, faulty)
    assert response.status_code == 200
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": "req-7",
        "error": {"code": -32603, "message": "Injected failure"},
    }


async def test_injected_http_500(faulty, http):
    await http.post(f"{faulty}/_faults", json={"failureRate": 1, "failureMode": "http"})
    assert (await post_rpc(http, faulty)).status_code == 500


async def test_injected_malformed_reply(faulty, http):
    await http.post(f"{faulty}/_faults", json={"malformedRate": 1})
    response = await post_rpc(http, faulty)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


async def test_faults_touch_only_the_json_rpc_endpoint(faulty, http):
    await http.post(f"{faulty}/_faults", json={"failureRate": 1, "failureMode": "http"})
    assert (await http.get(f"{faulty}/health")).status_code == 200
    assert (await http.get(f"{faulty}/.well-known/agent-card.json")).status_code == 200


async def test_latency_still_answers(faulty, http):
    await http.post(f"{faulty}/_faults", json={"latencyMs": 20})
    assert (await ask(http, faulty, text="CUST-0002")).data["status"] == "NO_OUTAGE"


async def test_hang_never_answers_until_the_client_gives_up(faulty, http):
    await http.post(f"{faulty}/_faults", json={"hang": True})
    with pytest.raises(httpx.ReadTimeout):
        await post_rpc(http, faulty, timeout=httpx.Timeout(5, read=0.2))
    # Turning it off lets the next request through.
    await http.post(f"{faulty}/_faults", json={})
    assert (await post_rpc(http, faulty)).status_code == 200


async def test_stopping_the_agent_ends_a_hanging_request(http):
    group, url = await start(ENABLED)
    await http.post(f"{url}/_faults", json={"hang": True})
    pending = asyncio.create_task(post_rpc(http, url))
    server = group.agents["outage-check"].server
    await wait_until_async(lambda: server.server_state.tasks, what="the server to hold it")
    assert not pending.done()
    await group.stop()
    response = await asyncio.wait_for(pending, timeout=10)
    assert response.status_code == 503


async def test_the_same_seed_gives_the_same_failures(faulty, http):
    async def outcomes():
        await http.post(f"{faulty}/_faults", json={"failureRate": 0.5, "seed": 42})
        results = []
        for _ in range(12):
            reply = (await post_rpc(http, faulty)).json()
            results.append("error" in reply)
        return results

    first = await outcomes()
    assert first == await outcomes()
    assert True in first and False in first


async def test_faults_from_settings_apply_from_the_start(http):
    settings = replace(QUIET, faults=FaultConfig(failure_rate=1.0, failure_mode="http"))
    group, url = await start(settings)
    try:
        assert (await post_rpc(http, url)).status_code == 500
        assert (await http.get(f"{url}/_faults")).status_code == 404
    finally:
        await group.stop()


def test_draws_are_reproducible():
    config = FaultConfig(failure_rate=0.3, malformed_rate=0.3, seed=7)
    first = FaultInjector(config)
    second = FaultInjector(config)
    draws = [first.draw() for _ in range(50)]
    assert draws == [second.draw() for _ in range(50)]
    assert {"failure", "malformed", None} == set(draws)


def test_config_validation():
    with pytest.raises(FaultConfigError, match="malformedRate"):
        FaultConfig(malformed_rate=-0.1).validate()
    assert not FaultConfig().active
    assert FaultConfig(hang=True).active


def test_fail_first_fails_exactly_the_first_requests():
    injector = FaultInjector(FaultConfig.from_json({"failFirst": 2}))

    assert [injector.draw() for _ in range(4)] == ["failure", "failure", None, None]
    with pytest.raises(FaultConfigError, match="failFirst"):
        FaultConfig.from_json({"failFirst": -1})
