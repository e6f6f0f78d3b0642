"""Live events end to end: negotiate on the real app, WebSocket clients on the local Web PubSub
service, and the publisher sending through it with the real SDK."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import jwt
import pytest
import websockets

from devhost.pubsub import PubSubService
from tests.conftest import remember_secret
from tests.system import bearer
from voicea2a import publisher
from voicea2a.events import EVENT_TYPES, Event

pytestmark = pytest.mark.azurite

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "events.schema.json").read_text())
PROTOCOL = "json.webpubsub.azure.v1"
ACCESS_KEY = "events-test-access-key-0123456789abcdefghijklmnop"


@pytest.fixture
def pubsub(loop_thread):
    service = PubSubService(ACCESS_KEY, endpoint="http://127.0.0.1")
    port = loop_thread.run(service.start(port=0))
    yield service, f"Endpoint=http://127.0.0.1:{port};AccessKey={ACCESS_KEY};Version=1.0;"
    loop_thread.run(service.stop())


@pytest.fixture
def app(start_host, azurite_env, pubsub):
    key = remember_secret("events-signing-key-" + secrets.token_hex(24))
    azurite_env(
        AUTH_SIGNING_KEY=key,
        WEBPUBSUB_CONNECTION_STRING=pubsub[1],
        EVENTS_PUBLISH_TIMEOUT_SECONDS="1",
    )
    host = start_host(ROOT, run_timers=False)
    host.signing_key = key
    return host


@pytest.fixture
async def closed_publisher():
    yield
    await publisher.close_clients()


def negotiate(app, user: str, roles: tuple[str, ...] = ("user",)) -> str:
    response = app.http.post("/api/events/negotiate", headers=bearer(app.signing_key, user, roles))
    assert response.status_code == 200, response.text
    return remember_secret(response.json()["url"])


class Client:
    """A WebSocket client of the local service that records what it receives."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.events: list[dict] = []
        self.acks: dict[int, dict] = {}

    @classmethod
    async def connect(cls, url: str) -> Client:
        client = cls(await websockets.connect(url, subprotocols=[PROTOCOL]))
        connected = json.loads(await client.socket.recv())
        assert connected["event"] == "connected"
        return client

    async def drain(self, seconds: float = 0.3) -> list[dict]:
        """Read until the socket has been quiet for `seconds`."""
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(self.socket.recv(), seconds))
                if frame["type"] == "ack":
                    self.acks[frame["ackId"]] = frame
                elif frame["type"] == "message":
                    self.events.append(frame["data"])
        except TimeoutError:
            return self.events

    async def send(self, frame: dict) -> dict:
        await self.socket.send(json.dumps(frame))
        await self.drain()
        return self.acks[frame["ackId"]]


def event(kind: str, owner: str = "alice", **fields) -> Event:
    data = {
        "conversation.created": {"title": "No internet"},
        "task.created": {"taskId": "t1", "request": "My internet is down", "stages": [["outage"]]},
        "task.updated": {"taskId": "t1", "state": "working"},
        "agent.status": {"status": "retrying", "attempt": 2, "reason": "HTTP 503"},
        "approval.requested": {
            "reason": "Second visit within 30 days",
            "expiresAt": datetime.now(UTC).isoformat(),
        },
        "approval.resolved": {"outcome": "approved", "by": "sam"},
        "message": {"text": "There is an outage in your area.", "agents": ["outage"]},
        "registry.updated": {"agents": [{"name": "outage", "health": "healthy"}]},
    }[kind]
    if kind == "registry.updated":
        return Event(kind, data, **fields)
    extra = {"agent": "outage"} if kind == "agent.status" else {}
    if kind.startswith("approval."):
        extra["instance_id"] = "instance-1"
    return Event(kind, data, owner=owner, conversation_id="c1", call_id="call-1", **extra, **fields)


def test_every_event_type_validates_against_the_schema():
    for kind in EVENT_TYPES:
        jsonschema.validate(event(kind).envelope(), SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**event("message").envelope(), "data": {"text": 1}}, SCHEMA)
    with pytest.raises(ValueError):
        Event("message", {"text": "x", "agents": []})  # a conversation event needs its owner


def test_negotiate_gives_a_receive_only_token_for_the_user(app):
    assert app.http.post("/api/events/negotiate").status_code == 401

    user_url = negotiate(app, "alice")
    claims = jwt.decode(user_url.split("access_token=")[1], options={"verify_signature": False})
    assert claims["sub"] == "alice"
    assert "role" not in claims and "webpubsub.group" not in claims
    assert 29 * 60 <= claims["exp"] - claims["iat"] <= 30 * 60

    supervisor_url = negotiate(app, "sam", ("supervisor",))
    claims = jwt.decode(
        supervisor_url.split("access_token=")[1], options={"verify_signature": False}
    )
    assert claims["webpubsub.group"] == ["ops"] and "role" not in claims


async def test_events_reach_their_audience_and_nobody_else(app, closed_publisher):
    alice_1 = await Client.connect(negotiate(app, "alice"))
    alice_2 = await Client.connect(negotiate(app, "alice"))
    bob = await Client.connect(negotiate(app, "bob"))
    sam = await Client.connect(negotiate(app, "sam", ("supervisor",)))

    for kind in EVENT_TYPES:
        assert await publisher.publish(event(kind)) is True

    received = {
        name: await client.drain()
        for name, client in [("alice_1", alice_1), ("alice_2", alice_2), ("bob", bob), ("sam", sam)]
    }
    assert [e["type"] for e in received["alice_1"]] == list(EVENT_TYPES)
    assert received["alice_2"] == received["alice_1"]
    assert [e["type"] for e in received["bob"]] == ["registry.updated"]
    assert [e["type"] for e in received["sam"]] == [
        "approval.requested",
        "approval.resolved",
        "registry.updated",
    ]
    for events in received.values():
        for envelope in events:
            jsonschema.validate(envelope, SCHEMA)
    for client in (alice_1, alice_2, bob, sam):
        await client.socket.close()


async def test_a_negotiated_client_cannot_join_or_send_to_groups(app, closed_publisher):
    alice = await Client.connect(negotiate(app, "alice"))

    join = await alice.send({"type": "joinGroup", "group": "ops", "ackId": 1})
    send = await alice.send(
        {
            "type": "sendToGroup",
            "group": "ops",
            "ackId": 2,
            "dataType": "json",
            "data": {"type": "message"},
        }
    )

    assert join["success"] is False and send["success"] is False
    sam = await Client.connect(negotiate(app, "sam", ("supervisor",)))
    await publisher.publish(event("approval.requested", owner="carol"))
    assert [e["type"] for e in await alice.drain()] == []
    assert [e["type"] for e in await sam.drain()] == ["approval.requested"]
    await alice.socket.close()
    await sam.socket.close()


async def test_a_tampered_token_is_refused_at_connect(app):
    url = negotiate(app, "alice")
    tampered = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")

    with pytest.raises(websockets.exceptions.WebSocketException):
        client = await websockets.connect(tampered, subprotocols=[PROTOCOL])
        await asyncio.wait_for(client.recv(), 5)


def test_negotiate_is_audited(app, azurite):
    from azure.data.tables import TableServiceClient

    negotiate(app, "audited-user")

    table = TableServiceClient.from_connection_string(azurite.connection_string).get_table_client(
        "audit"
    )
    rows = list(table.query_entities("user eq 'audited-user'"))
    assert [(r["kind"], r["outcome"]) for r in rows] == [("webpubsub", "issued")]


async def test_publishing_with_the_service_down_returns_within_its_bound(
    app, pubsub, loop_thread, closed_publisher
):
    service, _ = pubsub
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(service.stop(), loop_thread.loop))
    failed_before = publisher.stats.failed

    # Two attempts of at most 1 s each: anything near this bound means publish is not bounded.
    delivered = await asyncio.wait_for(publisher.publish(event("message")), timeout=5)

    assert delivered is False
    assert publisher.stats.failed == failed_before + 1
