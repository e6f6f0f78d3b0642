"""The app's Azure SDK clients take the environment's proxy once, when they are built
(voicea2a/proxies.py): a Web PubSub send or a Table request hands no lookup to another thread,
goes through HTTP_PROXY, and straight to a host NO_PROXY names. Real SDKs against the local Web
PubSub and Azurite, through a relaying proxy on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from devhost.pubsub import PubSubService
from voicea2a import publisher, storage
from voicea2a.events import Event
from voicea2a.proxies import proxy_options

pytestmark = pytest.mark.azurite

ACCESS_KEY = "proxies-test-access-key-0123456789abcdefghijklmnop"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te"}


class RelayingProxy:
    """A forward HTTP proxy on loopback: records each request's absolute URL and relays it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.server: asyncio.Server | None = None
        self.relay = httpx.AsyncClient(trust_env=False)

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        await self.relay.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request_line := await reader.readline():
                method, url, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.seen.append(url)
                forwarded = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
                reply = await self.relay.request(method, url, headers=forwarded, content=body)
                writer.write(f"HTTP/1.1 {reply.status_code} {reply.reason_phrase}\r\n".encode())
                for name, value in reply.headers.items():
                    if name.lower() not in HOP_BY_HOP | {"content-length", "transfer-encoding"}:
                        writer.write(f"{name}: {value}\r\n".encode())
                writer.write(f"content-length: {len(reply.content)}\r\n\r\n".encode())
                writer.write(reply.content)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable from the machine running the tests."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RelayingProxy]:
    """A relaying proxy that HTTP_PROXY names."""
    relaying = RelayingProxy()
    monkeypatch.setenv("HTTP_PROXY", await relaying.start())
    yield relaying
    await relaying.stop()


@pytest.fixture
async def services(
    azurite_env: Callable[..., Any], no_proxy_environment: None
) -> AsyncIterator[dict[str, str]]:
    """The local Web PubSub on this test's loop, and the app's settings for it and Azurite."""
    service = PubSubService(ACCESS_KEY, endpoint="http://127.0.0.1")
    port = await service.start(port=0)
    settings = {
        "WEBPUBSUB_CONNECTION_STRING": f"Endpoint=http://127.0.0.1:{port};AccessKey={ACCESS_KEY};"
    }
    yield settings
    await publisher.close_clients()
    await service.stop()


def event(index: int) -> Event:
    return Event(
        "message",
        {"text": f"event {index}", "agents": []},
        owner="proxy-user",
        conversation_id="c-proxy",
        id=f"e-proxy-{index}",
    )


async def send_and_store(table: str) -> None:
    """Three events published and one Table row written, each of which must succeed."""
    for index in range(3):
        assert await publisher.publish(event(index))
    client = storage.table_client(table)
    await client.create_table()
    await client.upsert_entity({"PartitionKey": "p", "RowKey": "r", "n": 1})
    assert (await client.get_entity("p", "r"))["n"] == 1


async def test_a_send_and_a_table_request_hand_nothing_to_other_threads(
    azurite_env: Callable[..., Any], services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    azurite_env(**services)
    loop = asyncio.get_running_loop()
    handed: list[Any] = []
    run_in_executor = loop.run_in_executor

    def counting(executor: Any, function: Any, *args: Any) -> Any:
        handed.append(function)
        return run_in_executor(executor, function, *args)

    monkeypatch.setattr(loop, "run_in_executor", counting)
    await send_and_store("proxiesnohop")
    # Left to the environment, aiohttp looks up ~/.netrc and the proxy variables on the
    # executor for every request: 2 per send, 2 per Table request.
    assert handed == []


async def test_the_environment_proxy_carries_web_pubsub_and_tables(
    azurite_env: Callable[..., Any],
    services: dict[str, str],
    proxy: RelayingProxy,
) -> None:
    azurite_env(**services)
    await send_and_store("proxiesrelayed")
    pubsub_port = services["WEBPUBSUB_CONNECTION_STRING"].split(":")[2].split(";")[0]
    sends = [seen for seen in proxy.seen if f":{pubsub_port}/api/hubs/" in seen]
    assert len(sends) == 3
    assert any("/proxiesrelayed" in seen for seen in proxy.seen)


async def test_hosts_no_proxy_names_are_reached_directly(
    azurite_env: Callable[..., Any],
    services: dict[str, str],
    proxy: RelayingProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    azurite_env(**services)
    await send_and_store("proxiesdirect")
    assert proxy.seen == []


def test_proxy_options_follow_the_endpoint_scheme(
    no_proxy_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert proxy_options("https://acct.table.core.windows.net") == {"use_env_settings": False}
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    # An HTTPS endpoint takes HTTPS_PROXY only, as aiohttp does with the environment.
    assert proxy_options("https://acct.table.core.windows.net") == {"use_env_settings": False}
    assert proxy_options("http://127.0.0.1:10002")["proxies"] == {
        "http": "http://proxy.internal:3128"
    }
    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@proxy.internal:3128")
    assert proxy_options("https://acct.table.core.windows.net")["proxies"] == {
        "https": "http://user:secret@proxy.internal:3128"
    }
    monkeypatch.setenv("NO_PROXY", ".core.windows.net")
    assert "proxies" not in proxy_options("https://acct.table.core.windows.net")


@pytest.mark.parametrize(
    ("connection_string", "endpoint"),
    [
        ("UseDevelopmentStorage=true", "http://127.0.0.1:10002"),
        (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            "TableEndpoint=http://127.0.0.1:41234/devstoreaccount1;",
            "http://127.0.0.1:41234/devstoreaccount1",
        ),
        ("AccountName=acct;AccountKey=a2V5", "https://acct.table.core.windows.net"),
        (
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
            "EndpointSuffix=core.chinacloudapi.cn",
            "https://acct.table.core.chinacloudapi.cn",
        ),
    ],
)
def test_table_endpoint_of_a_connection_string(connection_string: str, endpoint: str) -> None:
    assert storage.table_endpoint(connection_string) == endpoint
