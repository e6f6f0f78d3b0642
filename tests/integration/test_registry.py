"""The agent registry end to end on the devhost: self-registration by the real sample agents,
health probing through the timer job, the SSRF guard and card validation."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from azure.data.tables import TableServiceClient

from agents.registration import agent_identity
from agents.server import AGENT_CLASSES, start_agents
from agents.settings import load_settings as load_agent_settings
from tests.conftest import free_port, remember_secret
from tests.loopback import LoopbackServer
from tests.system import bearer
from tests.waiting import wait_until
from voicea2a import registry, storage
from voicea2a.config import AgentRegistrySettings
from voicea2a.errors import Conflict, InvalidRequest
from voicea2a.ssrf import pinned_client, vet_url

pytestmark = pytest.mark.azurite

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_registry(azurite):
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    service.delete_table("agents")


@pytest.fixture
def app_factory(start_host, azurite_env, clean_registry):
    key = remember_secret("registry-signing-key-" + secrets.token_hex(24))

    def start(allowlist: str = "localhost,127.0.0.1", port: int = 0, **env):
        azurite_env(
            AUTH_SIGNING_KEY=key,
            AUTH_DEV_LOGIN_ENABLED="true",
            AGENT_URL_ALLOWLIST=allowlist,
            AGENT_ADMISSION_ALLOWLIST=",".join(map(agent_identity, AGENT_CLASSES)),
            RATE_LIMIT_VOICE_TOKEN_PER_MINUTE="1000",
            AGENT_PROBE_TIMEOUT_SECONDS="1",
            **env,
        )
        host = start_host(ROOT, run_timers=False, port=port)
        host.key = key
        return host

    return start


def agents_of(app) -> dict[str, str]:
    response = app.http.get("/api/agents", headers=bearer(app.key, "ada", ("user",)))
    assert response.status_code == 200, response.text
    return {agent["name"]: agent["health"] for agent in response.json()["agents"]}


# ----- self-registration and health -----


def test_agents_register_themselves_fall_ill_and_heal(app_factory, loop_thread, azurite):
    port = free_port()
    app = app_factory(port=port)
    settings = replace(
        load_agent_settings({}),
        function_app_url=app.host.base_url,
        heartbeat_seconds=1.0,
        retry_initial_seconds=0.1,
        retry_max_seconds=0.5,
    )
    modem = loop_thread.run(start_agents(["modem-check"], base_port=0, settings=settings))
    outage = loop_thread.run(start_agents(["outage-check"], base_port=0, settings=settings))
    try:
        wait_until(lambda: len(agents_of(app)) == 2, what="both agents registered")
        assert set(agents_of(app).values()) == {"healthy"}
        name = next(n for n in agents_of(app) if "outage" in n)

        # The outage agent is killed: down after three failed probes in a row, not before.
        outage_port = int(outage.urls["outage-check"].rsplit(":", 1)[1])
        loop_thread.run(outage.stop())
        for expected in ("healthy", "healthy", "unhealthy"):
            assert app.http.post("/admin/functions/agent_health").status_code == 202
            assert agents_of(app)[name] == expected

        # It restarts on the same address: the next probe heals it.
        base_port = outage_port - AGENT_CLASSES["outage-check"].port_offset
        outage = loop_thread.run(
            start_agents(["outage-check"], base_port=base_port, settings=settings)
        )
        assert app.http.post("/admin/functions/agent_health").status_code == 202
        assert agents_of(app)[name] == "healthy"

        # The Function App restarts with an empty registry: the heartbeats fill it again.
        loop_thread.run(app.host.stop())
        loop_thread.run(storage.close_all())  # a new process starts with nothing cached
        TableServiceClient.from_connection_string(azurite.connection_string).delete_table("agents")
        again = app_factory(port=port)
        wait_until(lambda: len(agents_of(again)) == 2, what="both agents registered again")
    finally:
        loop_thread.run(outage.stop())
        loop_thread.run(modem.stop())


def test_only_agents_and_supervisors_register_and_only_supervisors_remove(app_factory, loop_thread):
    app = app_factory()
    group = loop_thread.run(
        start_agents(
            ["internet-plan"],
            base_port=0,
            settings=replace(load_agent_settings({}), registration_enabled=False),
        )
    )
    try:
        url = group.urls["internet-plan"]
        user = bearer(app.key, "ada", ("user",))
        agent = bearer(app.key, "agent-x", ("agent",))
        supervisor = bearer(app.key, "sam", ("supervisor",))
        assert app.http.post("/api/agents", json={"url": url}, headers=user).status_code == 403
        registered = app.http.post("/api/agents", json={"url": url}, headers=agent)
        assert registered.status_code == 200, registered.text
        body = registered.json()
        assert body["health"] == "healthy" and body["skills"]
        assert "url" not in json.dumps(body).lower() or url not in json.dumps(body)

        name = body["name"]
        assert app.http.delete(f"/api/agents/{name}", headers=agent).status_code == 403
        assert app.http.delete(f"/api/agents/{name}", headers=supervisor).status_code == 204
        assert app.http.delete(f"/api/agents/{name}", headers=supervisor).status_code == 404
        assert agents_of(app) == {}
    finally:
        loop_thread.run(group.stop())


# ----- the SSRF guard -----


class Tripwire(httpx.AsyncBaseTransport):
    """Records every request the app's HTTP client tries to make."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        return httpx.Response(599)


@pytest.fixture
def tripwire(monkeypatch):
    wire = Tripwire()
    monkeypatch.setattr(registry, "pinned_client", lambda vetted: httpx.AsyncClient(transport=wire))
    return wire


@pytest.mark.parametrize(
    "url, reason",
    [
        ("https://127.0.0.1/", "loopback"),
        ("https://[::1]:8443/", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://10.0.0.5/", "private"),
        ("https://192.168.1.1/", "private"),
        ("http://agents.example.com/", "https"),
        ("https://localhost:8101/", "loopback"),  # a name that resolves to an internal address
        ("ftp://agents.example.com/", "http(s)"),
        ("https://user:pw@agents.example.com/", "credentials"),
    ],
)
# The tripwire is patched into this process: with the app elsewhere it would see nothing.
@pytest.mark.in_process_worker
def test_refused_urls_never_get_a_connection(app_factory, tripwire, url, reason):
    app = app_factory(allowlist="")  # as in Azure: nothing allow-listed

    response = app.http.post(
        "/api/agents", json={"url": url}, headers=bearer(app.key, "agent-x", ("agent",))
    )

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and reason in error["message"]
    assert tripwire.requests == []


async def test_a_hostname_resolving_to_a_private_address_is_refused():
    async def resolver(host: str, port: int) -> list[str]:
        return {
            "agents.example.com": ["93.184.216.34"],
            "intranet.example.com": ["10.1.2.3"],
            "mapped.example.com": ["::ffff:169.254.169.254"],
        }[host]

    assert (await vet_url("https://agents.example.com/", [], resolver)).addresses == (
        "93.184.216.34",
    )
    for host in ("intranet.example.com", "mapped.example.com"):
        with pytest.raises(InvalidRequest, match="resolves to"):
            await vet_url(f"https://{host}/", [], resolver)
    # An allow-listed host may be internal, but never the metadata endpoint.
    with pytest.raises(InvalidRequest, match="metadata"):
        await vet_url("https://mapped.example.com/", ["mapped.example.com"], resolver)


async def test_a_card_pointing_its_rpc_url_inside_is_refused(tmp_path, cached_clients_closed):
    card = {
        "name": "sneaky",
        "description": "d",
        "version": "1",
        "skills": [],
        "capabilities": {},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "supportedInterfaces": [
            {"url": "https://10.0.0.7/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ],
    }
    async with card_server({"/.well-known/agent-card.json": json.dumps(card)}) as base:
        with pytest.raises(InvalidRequest, match="private"):
            await registry.fetch_vetted_card(
                base, AgentRegistrySettings(url_allowlist=frozenset({"127.0.0.1"}))
            )


# ----- malformed cards -----


class card_server:
    """A loopback server answering fixed bodies per path (a 10 MB one streamed)."""

    def __init__(self, routes: dict[str, str | None]) -> None:
        self.routes = routes

    async def __aenter__(self) -> str:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = self.routes.get(request.path)
            if body is None:
                return web.Response(status=404)
            if body == "HUGE":
                response = web.StreamResponse(headers={"Content-Type": "application/json"})
                await response.prepare(request)
                await response.write(b'{"name": "')
                for _ in range(10 * 1024):
                    await response.write(b"x" * 1024)
                return response
            return web.Response(text=body, content_type="application/json")

        app = web.Application()
        app.router.add_get("/{path:.*}", handle)
        self.server = LoopbackServer(app)
        return await self.server.start()

    async def __aexit__(self, *exc) -> None:
        await self.server.stop()


VALID_CARD = {
    "name": "card-test",
    "description": "d",
    "version": "1",
    "capabilities": {},
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [{"id": "s", "name": "S", "description": "d", "tags": ["t"]}],
    "supportedInterfaces": [
        {"url": "http://127.0.0.1:1/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ],
}


def card_without(field: str) -> str:
    return json.dumps({k: v for k, v in VALID_CARD.items() if k != field})


@pytest.mark.parametrize(
    "body, reason",
    [
        (card_without("name"), "name"),
        (json.dumps({**VALID_CARD, "name": 42}), "name"),
        (json.dumps({**VALID_CARD, "skills": "many"}), "skills"),
        (card_without("supportedInterfaces"), "interface"),
        ("{not json", "JSON"),
        ("HUGE", "bytes"),
    ],
)
async def test_malformed_cards_are_invalid_requests(body, reason, cached_clients_closed):
    async with card_server({"/.well-known/agent-card.json": body}) as base:
        with pytest.raises(InvalidRequest) as refused:
            await registry.fetch_vetted_card(
                base, AgentRegistrySettings(url_allowlist=frozenset({"127.0.0.1"}))
            )
    assert reason.lower() in refused.value.message.lower()


def test_a_missing_registry_table_lists_no_agents(app_factory):
    app = app_factory()  # the fixture deleted the table

    assert agents_of(app) == {}


async def test_the_card_comes_from_the_vetted_address_without_a_second_lookup(
    cached_clients_closed,
):
    # A rebinding name: the first answer is the agent, any later one a metadata endpoint. The
    # name does not exist in DNS either, so the fetch only works if nothing looks it up again.
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["169.254.169.254"]

    async with card_server({"/.well-known/agent-card.json": json.dumps(VALID_CARD)}) as base:
        port = base.rsplit(":", 1)[1]
        settings = AgentRegistrySettings(url_allowlist=frozenset({"rebind.invalid", "127.0.0.1"}))
        card = await registry.fetch_vetted_card(
            f"http://rebind.invalid:{port}", settings, rebinding
        )
    assert card.name == "card-test"
    assert lookups == ["rebind.invalid"]  # the card's RPC URL is an address: no lookup


async def test_a_pinned_client_reaches_no_other_host():
    vetted = await vet_url("http://127.0.0.1:1", ["127.0.0.1"])
    async with pinned_client(vetted) as client:
        with pytest.raises(httpx.ConnectError, match="not vetted"):
            await client.get("http://example.com/")


@pytest.mark.parametrize(
    "routes, status",
    [
        ({"/.well-known/agent-card.json": "internal: db password=hunter2"}, 400),
        ({"/.well-known/agent.json": "{not json, internal: db password=hunter2"}, 400),
    ],
)
def test_a_refused_registration_never_echoes_what_the_target_said(
    app_factory, loop_thread, routes, status
):
    # The target could be a page the app can reach and the registrant cannot (F6).
    app = app_factory()

    async def register() -> httpx.Response:
        headers = bearer(app.key, "agent-x", ("agent",))
        async with (
            card_server(routes) as base,
            httpx.AsyncClient(base_url=app.host.base_url) as client,
        ):
            return await client.post("/api/agents", json={"url": base}, headers=headers)

    response = loop_thread.run(register())
    assert response.status_code == status, response.text
    assert "hunter2" not in response.text and "password" not in response.text
    assert response.json()["error"]["message"]  # it still says what was wrong


# ----- concurrent writers -----


class gated_resolver:
    """Resolves every name to loopback; while `closed`, a lookup waits (and says it started),
    so a test can act in the middle of a registration or a health probe."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.opened.set()
        self.waiting = asyncio.Event()

    def close(self) -> None:
        self.opened.clear()
        self.waiting.clear()

    async def __call__(self, host: str, port: int) -> list[str]:
        self.waiting.set()
        await self.opened.wait()
        return ["127.0.0.1"]


GATED = AgentRegistrySettings(url_allowlist=frozenset({"gate.invalid", "127.0.0.1"}))


async def test_of_two_identities_registering_a_free_name_at_once_one_gets_it(
    azurite_env, clean_registry, monkeypatch
):
    azurite_env()
    # Both read the free name before either writes: the moment a read-then-write loses.
    both_read = asyncio.Barrier(2)
    reads = 0
    real_get = registry._get

    async def get_then_wait(table, name):
        nonlocal reads
        record = await real_get(table, name)
        reads += 1
        if reads <= 2:
            await asyncio.wait_for(both_read.wait(), 5)
        return record

    monkeypatch.setattr(registry, "_get", get_then_wait)
    async with card_server({"/.well-known/agent-card.json": json.dumps(VALID_CARD)}) as base:
        results = await asyncio.gather(
            registry.register(base, GATED, registry.Registrant("agent-a", admits=True)),
            registry.register(base, GATED, registry.Registrant("agent-b", admits=True)),
            return_exceptions=True,
        )
    won = [result[0] for result in results if isinstance(result, tuple)]
    lost = [result for result in results if isinstance(result, BaseException)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], Conflict)
    [stored] = await registry.list_agents()
    assert stored.owner == won[0].owner


@pytest.mark.parametrize("decision", ["admit", "remove"])
async def test_a_supervisors_decision_made_during_a_probe_is_not_undone(
    azurite_env, clean_registry, decision
):
    azurite_env()
    resolver = gated_resolver()
    async with card_server({"/.well-known/agent-card.json": json.dumps(VALID_CARD)}) as base:
        url = base.replace("127.0.0.1", "gate.invalid")
        pending, _ = await registry.register(
            url, GATED, registry.Registrant("agent-a", admits=False), resolver
        )
        assert pending.admission == "pending"
        resolver.close()
        probing = asyncio.create_task(registry.probe_all(GATED, resolver))
        await asyncio.wait_for(resolver.waiting.wait(), 5)

        if decision == "admit":
            await registry.admit(pending.name)
        else:
            await registry.remove(pending.name)
        resolver.opened.set()
        await asyncio.wait_for(probing, 10)

    after = {record.name: record for record in await registry.list_agents()}
    if decision == "admit":
        assert after[pending.name].admission == "admitted"
        assert after[pending.name].health == "healthy"
    else:
        assert pending.name not in after


async def test_a_configured_url_whose_name_another_identity_owns_is_skipped(
    azurite_env, clean_registry
):
    azurite_env()
    resolver = gated_resolver()
    async with card_server({"/.well-known/agent-card.json": json.dumps(VALID_CARD)}) as base:
        owned, _ = await registry.register(
            base, GATED, registry.Registrant("agent-a", admits=True), resolver
        )
        # The same card at another address, listed in A2A_AGENT_URLS: the job goes on.
        configured = replace(GATED, bootstrap_urls=(base.replace("127.0.0.1", "gate.invalid"),))
        records, _ = await registry.probe_all(configured, resolver)

    assert [(record.name, record.owner, record.url) for record in records] == [
        (owned.name, "agent-a", base)
    ]


async def test_a_refused_credential_of_a_removed_agent_writes_nothing(azurite_env, clean_registry):
    azurite_env()
    await registry.record_credential_refused("contoso-gone-agent", 401)

    assert await registry.list_agents() == []
