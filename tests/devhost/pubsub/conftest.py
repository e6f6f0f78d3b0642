"""Fixtures: local Web PubSub services on the shared background loop, and WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from devhost.pubsub import PubSubService
from tests.devhost.pubsub.support import KEY, RELIABLE, Client, RunningService


@pytest.fixture(scope="session")
def pubsub_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop in a background thread for the services (tests use blocking clients)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="pubsub-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def start_service(pubsub_loop) -> Iterator[Callable[..., RunningService]]:
    started: list[RunningService] = []

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, pubsub_loop).result(30)

    def start(**options: Any) -> RunningService:
        service = PubSubService(KEY, **options)
        run(service.start("127.0.0.1", 0))
        running = RunningService(service, pubsub_loop)
        started.append(running)
        return running

    yield start
    for running in started:
        run(running.service.stop())


@pytest.fixture
def pubsub(start_service) -> RunningService:
    return start_service()


@pytest.fixture
def open_client() -> Iterator[Callable[..., Client]]:
    """Open real WebSocket clients; each is closed at the end of the test."""
    with contextlib.ExitStack() as stack:

        def open_(
            url: str,
            protocol: str | None = RELIABLE,
            *,
            expect_connected: bool = True,
            receive_buffer: int | None = None,
            max_queue: int = 16,
        ) -> Client:
            sock = None
            if receive_buffer is not None:
                # A tiny kernel receive buffer, so a client that does not read backs up quickly.
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
                host_port = url.split("//", 1)[1].split("/", 1)[0]
                host, port = host_port.rsplit(":", 1)
                sock.connect((host, int(port)))
                stack.callback(sock.close)
            ws = stack.enter_context(
                connect(
                    url,
                    sock=sock,
                    subprotocols=[protocol] if protocol else None,
                    proxy=None,
                    open_timeout=10,
                    close_timeout=5,
                    max_queue=max_queue,
                    compression=None,
                )
            )
            client = Client(ws)
            if expect_connected and protocol is not None:
                client.connected = client.next()
                assert client.connected["type"] == "system", client.connected
                assert client.connected["event"] == "connected", client.connected
            return client

        yield open_
