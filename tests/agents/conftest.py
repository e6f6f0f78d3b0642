"""Agents on free loopback ports, and a raw JSON-RPC helper independent of our client: it
authenticates as the app does (an HS256 token for the agent, audience a2a-agents)."""

import itertools
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from agents.security import InboundAuth
from agents.server import start_agents
from agents.settings import AgentSettings
from tests.conftest import remember_secret

SIGNING_KEY = remember_secret("agents-tests-signing-key-7d1c5e9a3b2f4a6c8e0d")
QUIET = AgentSettings(registration_enabled=False, inbound=InboundAuth(signing_key=SIGNING_KEY))
_ids = itertools.count(1)


def app_token(agent_title: str, *, key: str = SIGNING_KEY, **claims: Any) -> str:
    """An app token for the agent titled `agent_title`; `claims` override or add (None drops)."""
    now = int(time.time())
    body = {
        "iss": "voicea2a",
        "aud": "a2a-agents",
        "sub": "voicea2a-app",
        "agent": agent_title,
        "iat": now,
        "exp": now + 300,
        **claims,
    }
    body = {name: value for name, value in body.items() if value is not None}
    return remember_secret(jwt.encode(body, key, algorithm="HS256"))


async def title_of(client: httpx.AsyncClient, base_url: str) -> str:
    """The agent's card name (what its tokens are bound to); the card is public. Read each time:
    a port is reused by other agents from test to test."""
    card = await client.get(f"{base_url}/.well-known/agent-card.json")
    return card.json()["name"]


async def bearer(client: httpx.AsyncClient, base_url: str, **claims: Any) -> dict[str, str]:
    """The Authorization header of a valid app token for the agent at `base_url`."""
    return {"Authorization": f"Bearer {app_token(await title_of(client, base_url), **claims)}"}


@dataclass
class Answer:
    """The parts of an agent's reply the tests look at."""

    kind: str  # "message" or "task"
    state: str | None
    text: str
    data: dict[str, Any]
    task_id: str | None
    context_id: str | None


async def rpc(
    client: httpx.AsyncClient,
    base_url: str,
    parts: list[dict],
    *,
    task_id=None,
    context_id=None,
    message_id=None,
    metadata=None,
    headers=None,
) -> dict:
    """POST one A2A 1.0 SendMessage and return the whole JSON-RPC reply (as the app, unless
    `headers` say otherwise)."""
    message = {"messageId": message_id or f"m-{next(_ids)}", "role": "ROLE_USER", "parts": parts}
    if metadata:
        message["metadata"] = metadata
    if task_id:
        message["taskId"] = task_id
    if context_id:
        message["contextId"] = context_id
    body = {
        "jsonrpc": "2.0",
        "id": next(_ids),
        "method": "SendMessage",
        "params": {"message": message},
    }
    if headers is None:
        headers = await bearer(client, base_url)
    response = await client.post(
        f"{base_url}/a2a", json=body, headers={"A2A-Version": "1.0", **headers}
    )
    assert response.status_code == 200
    return response.json()


def answer_of(reply: dict) -> Answer:
    """Text and data of a SendMessage result (a direct message, or a task's status message)."""
    result = reply["result"]
    if "message" in result:
        message, kind, state = result["message"], "message", None
        task_id, context_id = message.get("taskId"), message.get("contextId")
    else:
        task = result["task"]
        message, kind, state = task["status"]["message"], "task", task["status"]["state"]
        task_id, context_id = task["id"], task["contextId"]
    texts = [part["text"] for part in message["parts"] if "text" in part]
    data = [part["data"] for part in message["parts"] if "data" in part]
    assert len(data) == 1, "every answer carries exactly one data part"
    return Answer(kind, state, "\n".join(texts), data[0], task_id, context_id)


async def ask(client, base_url, *, text=None, data=None, **options) -> Answer:
    """Send text and/or a data part and return the answer (`options` go to `rpc`)."""
    parts = []
    if text is not None:
        parts.append({"text": text})
    if data is not None:
        parts.append({"data": data})
    return answer_of(await rpc(client, base_url, parts, **options))


@pytest.fixture
async def agents():
    """All six agents on free ports (no registration)."""
    group = await start_agents(base_port=0, settings=QUIET)
    yield group
    await group.stop()


@pytest.fixture
async def http():
    """A plain httpx client for loopback calls."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
