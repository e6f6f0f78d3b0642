"""Agents on free loopback ports, and a raw JSON-RPC helper independent of our client."""

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agents.server import start_agents
from agents.settings import AgentSettings

QUIET = AgentSettings(registration_enabled=False)
_ids = itertools.count(1)


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
    client: httpx.AsyncClient, base_url: str, parts: list[dict], *, task_id=None, context_id=None
) -> dict:
    """POST one A2A 1.0 SendMessage and return the whole JSON-RPC reply."""
    message = {"messageId": f"m-{next(_ids)}", "role": "ROLE_USER", "parts": parts}
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
    response = await client.post(f"{base_url}/a2a", json=body, headers={"A2A-Version": "1.0"})
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


async def ask(client, base_url, *, text=None, data=None, task_id=None, context_id=None) -> Answer:
    """Send text and/or a data part and return the answer."""
    parts = []
    if text is not None:
        parts.append({"text": text})
    if data is not None:
        parts.append({"data": data})
    return answer_of(await rpc(client, base_url, parts, task_id=task_id, context_id=context_id))


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
