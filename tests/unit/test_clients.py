import asyncio
from pathlib import Path

import httpx
import pytest

from devhost.functions import AppLoadError, index_app, load_app
from tests.conftest import after_importing_the_app
from voicea2a import config, httpclient, storage
from voicea2a.loopcache import PerLoop

ROOT = Path(__file__).resolve().parents[2]


async def test_table_service_from_development_storage(app_env, cached_clients_closed):
    app_env()
    service = storage.table_service()
    assert service is storage.table_service()
    assert service.url.startswith("http://127.0.0.1:10002/devstoreaccount1")
    assert service.credential.named_key.name == "devstoreaccount1"
    table = storage.table_client("agents")
    assert table.table_name == "agents"
    # Built once per loop and table: each one configures a pipeline of its own.
    assert storage.table_client("agents") is table
    assert storage.table_client("audit") is not table


async def test_table_service_with_managed_identity(app_env, cached_clients_closed):
    from azure.identity.aio import DefaultAzureCredential

    app_env(
        AzureWebJobsStorage="",
        AzureWebJobsStorage__tableServiceUri="https://acct.table.core.windows.net",
        AzureWebJobsStorage__clientId="11111111-2222-3333-4444-555555555555",
    )
    service = storage.table_service()
    assert service.url.startswith("https://acct.table.core.windows.net")
    assert isinstance(service.credential, DefaultAzureCredential)


def test_fail_fast_kwargs():
    assert storage.fail_fast(1.5) == {
        "retry_total": 0,
        "connection_timeout": 1.5,
        "read_timeout": 1.5,
    }


async def test_one_http_client_per_loop(cached_clients_closed):
    client = httpclient.http_client()
    assert isinstance(client, httpx.AsyncClient)
    assert client is httpclient.http_client()
    assert client.timeout.connect == httpclient.CONNECT_TIMEOUT_SECONDS


def test_per_loop_instances_and_close():
    closed = []

    async def close(item):
        closed.append(item)

    cache = PerLoop(object, close)

    async def use():
        first = cache.get()
        assert cache.get() is first
        return first

    loop_a, loop_b = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        a = loop_a.run_until_complete(use())
        b = loop_b.run_until_complete(use())
        assert a is not b
        loop_a.run_until_complete(cache.close_all())
        assert closed == [a]
        assert loop_b.run_until_complete(use()) is not b  # all forgotten
    finally:
        loop_a.close()
        loop_b.close()


def test_importing_function_app_loads_no_heavy_sdk():
    heavy = [
        "azure.data.tables",
        "azure.identity",
        "azure.keyvault",
        "azure.messaging",
        "httpx",
        # Telemetry is set up on the first invocation, never at import (~300 ms).
        "azure.monitor",
        "opentelemetry.sdk",
        "opentelemetry.instrumentation",
    ]
    code = (
        "import sys\n"
        f"heavy = {heavy!r}\n"
        "print([m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy)])\n"
    )
    assert after_importing_the_app(code).strip() == "[]"


def test_function_app_registers_health(app_env):
    app_env()
    assert "health" in index_app(load_app(ROOT)).by_name


def test_function_app_refuses_to_start_with_a_bad_setting(app_env, monkeypatch):
    app_env()
    monkeypatch.setenv("MAX_REQUEST_BODY_BYTES", "lots")
    config.reset_settings()

    with pytest.raises(AppLoadError, match="MAX_REQUEST_BODY_BYTES"):
        load_app(ROOT)
