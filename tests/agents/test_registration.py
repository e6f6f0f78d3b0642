"""Registration heartbeat against a fake Function App that first fails, then accepts."""

import datetime as dt
import logging
import socket
from dataclasses import replace
from types import SimpleNamespace

import httpx
import pytest

from agents.catalog import AGENT_NAMES
from agents.registration import DevTokenSource, EntraTokenSource, Registrar, RegistrationError
from agents.server import start_agents
from agents.settings import AgentSettings
from tests.agents.conftest import QUIET
from tests.agents.fake_function_app import FakeFunctionApp
from tests.waiting import wait_until_async


def fast(function_app_url: str) -> AgentSettings:
    return AgentSettings(
        function_app_url=function_app_url,
        inbound=QUIET.inbound,
        heartbeat_seconds=0.2,
        retry_initial_seconds=0.01,
        retry_max_seconds=0.05,
    )


@pytest.fixture
async def fake_app():
    app = FakeFunctionApp()
    await app.start()
    yield app
    await app.stop()


async def test_retries_until_registered_then_re_registers_on_the_heartbeat(fake_app, caplog):
    fake_app.token_statuses = [404]
    fake_app.register_statuses = [503, 404, 503]
    caplog.set_level(logging.DEBUG, logger="agents.registration")
    group = await start_agents(["outage-check"], base_port=0, settings=fast(fake_app.url))
    try:
        await fake_app.wait_for(lambda: len(fake_app.accepted()) >= 3)
    finally:
        await group.stop()
    statuses = [status for _auth, _body, status in fake_app.register_calls]
    assert statuses[:4] == [503, 404, 503, 200]
    expected_body = {"url": group.urls["outage-check"]}
    assert all(body == expected_body for _auth, body, _status in fake_app.register_calls)
    # The first dev-token call failed (404); the second token is reused by every attempt.
    assert all(auth == "Bearer tok-2" for auth, _body, _status in fake_app.register_calls)
    assert fake_app.token_requests == [{"user": "agent-outage-check", "roles": ["agent"]}] * 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one log line per failure streak"
    assert "dev-token request returned HTTP 404" in warnings[0].getMessage()
    assert "tok-" not in caplog.text, "tokens are never logged"
    assert any("registered after 4 failed attempt(s)" in r.getMessage() for r in caplog.records)


async def test_each_agent_registers_under_its_own_identity(fake_app):
    group = await start_agents(base_port=0, settings=fast(fake_app.url))
    try:
        await fake_app.wait_for(lambda: len({b["url"] for _a, b, _s in fake_app.accepted()}) == 6)
    finally:
        await group.stop()
    users = {request["user"] for request in fake_app.token_requests}
    assert users == {f"agent-{name}" for name in AGENT_NAMES}
    assert {body["url"] for _a, body, _s in fake_app.accepted()} == set(group.urls.values())


async def test_a_401_fetches_a_fresh_token(fake_app):
    fake_app.register_statuses = [401]
    group = await start_agents(["modem-check"], base_port=0, settings=fast(fake_app.url))
    try:
        await fake_app.wait_for(lambda: len(fake_app.accepted()) >= 1)
    finally:
        await group.stop()
    assert [auth for auth, _b, _s in fake_app.register_calls[:2]] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_an_absent_function_app_never_stops_the_agent(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    caplog.set_level(logging.DEBUG, logger="agents.registration")
    group = await start_agents(
        ["internet-plan"], base_port=0, settings=fast(f"http://127.0.0.1:{closed_port}")
    )
    try:
        await wait_until_async(
            lambda: sum("attempt" in r.getMessage() for r in caplog.records) >= 3,
            what="three registration attempts",
        )
        async with httpx.AsyncClient() as client:
            health = await client.get(f"{group.urls['internet-plan']}/health")
        assert health.json()["status"] == "ok"
    finally:
        await group.stop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "ConnectError" in warnings[0].getMessage()


async def test_registration_disabled_sends_nothing(fake_app):
    settings = replace(QUIET, function_app_url=fake_app.url)
    group = await start_agents(["outage-check"], base_port=0, settings=settings)
    await group.stop()
    assert fake_app.register_calls == [] and fake_app.token_requests == []


async def test_dev_token_is_reused_until_a_minute_before_it_expires(fake_app):
    fake_app.token_lifetime = dt.timedelta(minutes=10)
    now = [dt.datetime.now(dt.UTC)]
    async with httpx.AsyncClient() as client:
        source = DevTokenSource(client, fake_app.url, "authentication", clock=lambda: now[0])
        assert await source.token() == "tok-1"
        now[0] += dt.timedelta(minutes=8)
        assert await source.token() == "tok-1"
        now[0] += dt.timedelta(minutes=1, seconds=1)
        assert await source.token() == "tok-2"
        source.invalidate()
        assert await source.token() == "tok-3"


async def test_a_bad_dev_token_response_is_a_registration_error(fake_app):
    fake_app.token_statuses = [500]
    async with httpx.AsyncClient() as client:
        source = DevTokenSource(client, fake_app.url, "authentication")
        with pytest.raises(RegistrationError, match="HTTP 500"):
            await source.token()


class FakeCredential:
    """Stands in for DefaultAzureCredential: counts token requests."""

    def __init__(self):
        self.scopes = []
        self.closed = False

    async def get_token(self, scope):
        self.scopes.append(scope)
        return SimpleNamespace(token=f"entra-{len(self.scopes)}", expires_on=1000 + 3600)

    async def close(self):
        self.closed = True


async def test_entra_tokens_are_cached_until_a_minute_before_expiry():
    credential = FakeCredential()
    now = [1000.0]
    source = EntraTokenSource(
        "api://voicea2a/.default", credential=credential, clock=lambda: now[0]
    )
    assert await source.token() == "entra-1"
    now[0] += 3600 - 61
    assert await source.token() == "entra-1"
    now[0] += 2
    assert await source.token() == "entra-2"
    assert credential.scopes == ["api://voicea2a/.default"] * 2
    await source.close()
    assert credential.closed is False, "a credential passed in belongs to the caller"


async def test_an_entra_failure_is_a_registration_error_without_details():
    class Failing(FakeCredential):
        async def get_token(self, scope):
            raise RuntimeError("long chain of credential messages")

    source = EntraTokenSource("api://x/.default", credential=Failing())
    with pytest.raises(RegistrationError) as raised:
        await source.token()
    assert str(raised.value) == "Entra token request failed: RuntimeError"


def test_backoff_doubles_with_jitter_and_is_capped():
    registrar = Registrar(
        client=None,
        function_app_url="http://127.0.0.1:7071",
        agent_name="a",
        agent_url="http://127.0.0.1:8101",
        tokens=None,
        heartbeat_seconds=60,
        retry_initial_seconds=1,
        retry_max_seconds=30,
    )
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (20, 30)]:
        delays = [registrar.backoff_seconds(failures) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len({registrar.backoff_seconds(3) for _ in range(20)}) > 1, "jittered"
