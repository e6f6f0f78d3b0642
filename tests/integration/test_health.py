import json
from pathlib import Path

import azure.functions as func
import pytest
from aiohttp import web

from devhost.azurite import ACCOUNT_KEY, start_azurite
from devhost.functions import index_app, load_app
from tests.conftest import free_port
from tests.contoso import SKILL_IDS
from tests.loopback import LoopbackServer
from voicea2a import storage

pytestmark = pytest.mark.azurite

ROOT = Path(__file__).resolve().parents[2]
WPS_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"


def health_function():
    # Imported as the host imports it, under the test's settings (function_app validates them).
    return index_app(load_app(ROOT)).by_name["health"].user_function


async def get_health():
    req = func.HttpRequest("GET", "http://localhost/api/health", body=b"")
    response = await health_function()(req=req)
    return response, json.loads(response.get_body())


@pytest.fixture
async def fake_webpubsub():
    """A stand-in Web PubSub endpoint answering HEAD /api/health with 200."""
    app = web.Application()

    async def ok(request):
        return web.Response()

    app.router.add_route("HEAD", "/api/health", ok)
    async with LoopbackServer(app) as url:
        yield f"Endpoint={url};AccessKey={WPS_KEY};Version=1.0;"


async def drop_agents_table():
    await storage.table_service().delete_table("agents")


async def test_ok_against_azurite(azurite_env, fake_webpubsub):
    azurite_env(WEBPUBSUB_CONNECTION_STRING=fake_webpubsub, APP_VERSION="9.9.9-test")
    await drop_agents_table()
    response, body = await get_health()
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["x-correlation-id"]
    assert body == {
        "status": "ok",
        "version": "9.9.9-test",
        "dependencies": {
            "storage": {"status": "ok"},
            "webPubSub": {"status": "ok"},
            "agentRegistry": {"status": "ok", "agents": 0},
            "playbook": {"status": "ok", "name": None, "missingSkills": []},
        },
    }


async def test_a_playbook_skill_no_agent_offers_is_degraded(azurite_env, fake_webpubsub):
    azurite_env(WEBPUBSUB_CONNECTION_STRING=fake_webpubsub, PLAYBOOK="contoso")
    await drop_agents_table()
    response, body = await get_health()
    assert response.status_code == 200 and body["status"] == "degraded"
    assert body["dependencies"]["playbook"] == {
        "status": "degraded",
        "name": "contoso-internet-support",
        "missingSkills": list(SKILL_IDS),
    }


async def test_agent_registry_counts_agents(azurite_env, fake_webpubsub):
    azurite_env(WEBPUBSUB_CONNECTION_STRING=fake_webpubsub)
    table = storage.table_client("agents")
    await storage.table_service().create_table_if_not_exists("agents")
    try:
        for name in ("billing", "network", "dispatch"):
            await table.upsert_entity({"PartitionKey": "agent", "RowKey": name})
        _, body = await get_health()
        assert body["dependencies"]["agentRegistry"] == {"status": "ok", "agents": 3}
    finally:
        await drop_agents_table()


async def test_webpubsub_not_configured_is_degraded(azurite_env):
    azurite_env()
    response, body = await get_health()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["dependencies"]["storage"] == {"status": "ok"}
    assert body["dependencies"]["webPubSub"] == {"status": "not_configured"}


async def test_webpubsub_closed_port_is_unavailable(azurite_env, unused_tcp_port):
    endpoint = f"http://127.0.0.1:{unused_tcp_port}"
    azurite_env(WEBPUBSUB_CONNECTION_STRING=f"Endpoint={endpoint};AccessKey={WPS_KEY};Version=1.0;")
    response, body = await get_health()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["dependencies"]["webPubSub"] == {"status": "unavailable"}
    assert WPS_KEY not in response.get_body().decode()
    assert endpoint not in response.get_body().decode()


async def test_webpubsub_identity_endpoint_is_checked(azurite_env, unused_tcp_port):
    azurite_env(WEBPUBSUB_ENDPOINT=f"http://127.0.0.1:{unused_tcp_port}")
    _, body = await get_health()
    assert body["dependencies"]["webPubSub"] == {"status": "unavailable"}


async def test_storage_down_is_503_without_secrets(azurite_env, unused_tcp_port):
    port = unused_tcp_port
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    azurite_env(AzureWebJobsStorage=connection_string, HEALTH_CHECK_TIMEOUT_SECONDS="1")
    response, body = await get_health()
    text = response.get_body().decode()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["dependencies"]["storage"] == {"status": "unavailable"}
    assert body["dependencies"]["agentRegistry"] == {"status": "unavailable", "agents": None}
    for secret in (ACCOUNT_KEY, "AccountKey", "DefaultEndpointsProtocol", str(port)):
        assert secret not in text


async def test_slow_dependency_is_bounded_by_the_timeout(azurite_env):
    import asyncio

    hung = []

    async def hang(reader, writer):
        hung.append(writer)  # accept the connection, never answer

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # Long enough for Azurite to answer under a loaded suite; the hung service never does.
        azurite_env(WEBPUBSUB_ENDPOINT=f"http://127.0.0.1:{port}", HEALTH_CHECK_TIMEOUT_SECONDS="2")
        response, body = await get_health()
        assert response.status_code == 200
        assert body["dependencies"]["webPubSub"] == {"status": "unavailable"}
        # It was reached, never answered, and the check answered all the same: it gave up.
        assert hung
    finally:
        for writer in hung:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_real_azurite_stopped_then_restarted(app_env, cached_clients_closed):
    ports = {"blob_port": free_port(), "queue_port": free_port(), "table_port": free_port()}
    own = start_azurite(**ports, location=None, in_memory=True, script_root=ROOT)
    try:
        app_env(AzureWebJobsStorage=own.connection_string, HEALTH_CHECK_TIMEOUT_SECONDS="1")
        response, body = await get_health()
        assert response.status_code == 200 and body["dependencies"]["storage"]["status"] == "ok"

        own.stop()
        response, body = await get_health()
        assert response.status_code == 503
        assert body["dependencies"]["storage"]["status"] == "unavailable"

        own = start_azurite(**ports, location=None, in_memory=True, script_root=ROOT)
        response, body = await get_health()
        assert response.status_code == 200 and body["dependencies"]["storage"]["status"] == "ok"
    finally:
        own.stop()
