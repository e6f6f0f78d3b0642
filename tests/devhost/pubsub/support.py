"""Helpers for the local Web PubSub tests: a running service and real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from azure.messaging.webpubsubservice import WebPubSubServiceClient
from websockets.sync.client import ClientConnection

from devhost.pubsub import PubSubService

# The official emulator's published local-only key (protocols.md B.5).
KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
OTHER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvuts"
HUB = "chat"
RELIABLE = "json.reliable.webpubsub.azure.v1"
JSON = "json.webpubsub.azure.v1"


class RunningService:
    """A started PubSubService on the shared background loop, plus SDK clients for it."""

    def __init__(self, service: PubSubService, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self.loop = loop

    @property
    def connection_string(self) -> str:
        return self.service.connection_string

    def sdk(self, hub: str = HUB, connection_string: str | None = None) -> WebPubSubServiceClient:
        """The real Python SDK, built from a connection string (default: this service's)."""
        return WebPubSubServiceClient.from_connection_string(
            connection_string or self.connection_string, hub=hub
        )

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the service's loop (state is only touched there) and return its result."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def connections(self) -> int:
        """How many connections the service holds, in every hub."""
        return self.call(self.service.registry.count)

    def connection(self, connection_id: str, hub: str = HUB) -> Any:
        """The service's Connection object, or None when it is gone."""
        return self.call(lambda: self.service.registry.get(hub, connection_id))

    def queued(self, connection_id: str, hub: str = HUB) -> int:
        """Frames waiting in a connection's outgoing queue (0 once it is gone)."""

        def read() -> int:
            connection = self.service.registry.get(hub, connection_id)
            return connection.queued if connection is not None else 0

        return self.call(read)


class Client:
    """A real `websockets` client speaking a Web PubSub subprotocol (or raw)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.connected: dict[str, Any] | None = None
        self._pending: list[dict[str, Any]] = []

    @property
    def connection_id(self) -> str:
        assert self.connected is not None
        return self.connected["connectionId"]

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Frames that arrived while request() waited for an ack, not yet read."""
        return list(self._pending)

    def next(self, timeout: float = 10) -> dict[str, Any]:
        """The next frame, parsed as JSON (frames passed over while waiting for an ack first)."""
        if self._pending:
            return self._pending.pop(0)
        return json.loads(self.ws.recv(timeout=timeout))

    def next_raw(self, timeout: float = 10) -> str | bytes:
        """The next frame as it arrived (raw WebSocket clients)."""
        return self.ws.recv(timeout=timeout)

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send(json.dumps(frame))

    def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a frame with an ackId and return its ack; other frames stay queued for next()."""
        self.send(frame)
        while True:
            message = json.loads(self.ws.recv(timeout=10))
            if message["type"] == "ack":
                assert message["ackId"] == frame["ackId"], message
                return message
            self._pending.append(message)

    def sync(self) -> None:
        """Ping and wait for the pong: every frame sent before has been processed."""
        self.send({"type": "ping"})
        assert json.loads(self.ws.recv(timeout=10)) == {"type": "pong"}

    def ack(self, sequence_id: int) -> None:
        """Send a sequenceAck and make sure the service has processed it."""
        self.send({"type": "sequenceAck", "sequenceId": sequence_id})
        self.sync()


def data_of(message: dict[str, Any]) -> Any:
    assert message["type"] == "message", message
    return message["data"]
