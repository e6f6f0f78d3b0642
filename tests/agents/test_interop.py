"""Interop with code nobody here wrote: a2a-sdk's client against our agents, and our client
against agents built directly on a2a-sdk's server, in A2A 1.0 and in 0.3-compatibility mode."""

import json
import uuid
from dataclasses import replace

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.client.auth import AuthInterceptor, CredentialService
from a2a.helpers import (
    get_data_parts,
    get_message_text,
    new_data_part,
    new_message,
    new_task_from_user_message,
    new_text_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Message,
    Role,
    SendMessageRequest,
    TaskState,
)

from agents.server import start_agents
from tests.agents.conftest import QUIET, SIGNING_KEY, app_token
from tests.sdk_agent import SdkAgent
from voicea2a.a2a import fetch_card, send_message
from voicea2a.agentauth import AgentCredentials

LIMITS = {"timeout": 10.0, "max_bytes": 1_000_000}


# --- a2a-sdk's own client against our agents -------------------------------------------------


async def sdk_send(client, parts, task_id=None, context_id=None):
    message = Message(
        message_id=str(uuid.uuid4()),
        role=Role.ROLE_USER,
        parts=parts,
        task_id=task_id,
        context_id=context_id,
    )
    responses = [r async for r in client.send_message(SendMessageRequest(message=message))]
    assert len(responses) == 1
    return responses[0]


class AppTokens(CredentialService):
    """The app's token for the scheme our cards declare, so the SDK's own AuthInterceptor (which
    reads the card's securitySchemes and requirements) is what authenticates."""

    def __init__(self, agent_title):
        self.agent_title = agent_title

    async def get_credentials(self, security_scheme_name, context):
        return app_token(self.agent_title) if security_scheme_name == "appToken" else None


@pytest.fixture
async def sdk_client_for(agents):
    clients = []

    async def make(name):
        title = agents.agents[name].agent.title
        client = await create_client(
            agents.urls[name],
            client_config=ClientConfig(streaming=False),
            interceptors=[AuthInterceptor(AppTokens(title))],
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_sdk_client_reads_our_card_and_gets_text_and_data(sdk_client_for):
    client = await sdk_client_for("outage-check")
    response = await sdk_send(client, [new_data_part({"customerId": "CUST-0001"})])
    assert response.HasField("message")
    assert "outage at your address" in get_message_text(response.message)
    (data,) = get_data_parts(response.message.parts)
    assert data["status"] == "LOCAL_OUTAGE"


async def test_sdk_client_free_text(sdk_client_for):
    client = await sdk_client_for("authentication")
    text = "This is Grace Lee, postal code V6B 1A1, born 1977-01-15"
    response = await sdk_send(client, [new_text_part(text)])
    (data,) = get_data_parts(response.message.parts)
    assert (data["status"], data["customerId"]) == ("AUTHENTICATED", "CUST-0017")


async def test_sdk_client_runs_the_dispatch_approval_flow(sdk_client_for):
    client = await sdk_client_for("technical-dispatch")
    first = await sdk_send(client, [new_data_part({"customerId": "CUST-0003"})])
    task = first.task
    assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    second = await sdk_send(
        client,
        [new_data_part({"approved": True, "note": "fine"})],
        task_id=task.id,
        context_id=task.context_id,
    )
    assert second.task.id == task.id
    assert second.task.status.state == TaskState.TASK_STATE_COMPLETED
    (data,) = get_data_parts(second.task.status.message.parts)
    assert data["status"] == "BOOKED"


# --- our client against agents built directly on a2a-sdk's server ----------------------------


class EchoExecutor(AgentExecutor):
    """Echoes text and data; "ask me" starts a task that waits for input, then completes."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = get_message_text(context.message)
        data = get_data_parts(context.message.parts)
        if context.current_task is None and text != "ask me":
            parts = [new_text_part(f"echo: {text}")]
            parts += [new_data_part({"echo": item}) for item in data]
            await event_queue.enqueue_event(new_message(parts, context_id=context.context_id))
            return
        task = context.current_task or new_task_from_user_message(context.message)
        if context.current_task is None:
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if context.current_task is None:
            await updater.requires_input(updater.new_agent_message([new_text_part("which one?")]))
        else:
            reply = [new_text_part(f"you chose {text}"), new_data_part({"choice": text, "n": 3})]
            await updater.complete(updater.new_agent_message(reply))

    async def cancel(self, context, event_queue):
        raise NotImplementedError


def sdk_echo_agent(protocol_version: str) -> SdkAgent:
    """The echo agent on a2a-sdk's server, listing only a 1.0 or only a 0.3 interface."""

    def card(rpc_url: str) -> AgentCard:
        return AgentCard(
            name="sdk-echo",
            description="Echoes text and data",
            version="0.1.0",
            supported_interfaces=[
                AgentInterface(
                    url=rpc_url, protocol_binding="JSONRPC", protocol_version=protocol_version
                )
            ],
            capabilities=AgentCapabilities(streaming=False, push_notifications=False),
            default_input_modes=["text/plain"],
            default_output_modes=["text/plain"],
            skills=[AgentSkill(id="echo", name="Echo", description="echoes", tags=["echo"])],
        )

    return SdkAgent(EchoExecutor(), card, v0_3=protocol_version == "0.3")


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_our_client_against_the_sdk_server(version, http):
    async with sdk_echo_agent(version) as agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        assert (card.name, card.protocol_version, card.rpc_url) == (
            "sdk-echo",
            version,
            f"{agent.url}/a2a",
        )
        assert card.skills[0].id == "echo"
        result = await send_message(http, card, text="hello", data={"k": [1, 2]}, **LIMITS)
        assert (result.state, result.text) == ("completed", "echo: hello")
        assert result.data == {"echo": {"k": [1, 2]}}
        assert result.context_id


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_our_client_continues_an_input_required_task(version, http):
    async with sdk_echo_agent(version) as agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        first = await send_message(http, card, text="ask me", **LIMITS)
        assert (first.state, first.text) == ("input-required", "which one?")
        second = await send_message(
            http, card, text="blue", task_id=first.task_id, context_id=first.context_id, **LIMITS
        )
        assert (second.state, second.task_id) == ("completed", first.task_id)
        assert second.text == "you chose blue"
        assert second.data == {"choice": "blue", "n": 3}


async def test_our_client_speaks_the_method_and_header_of_the_cards_version():
    sent = []

    async def record(request):
        if request.method == "POST":
            body = json.loads(request.content)
            sent.append((body["method"], request.headers.get("A2A-Version")))

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        for version in ("1.0", "0.3"):
            async with sdk_echo_agent(version) as agent:
                raw = (await client.get(f"{agent.url}/.well-known/agent-card.json")).json()
                if version == "0.3":
                    assert raw["protocolVersion"] == "0.3" and raw["url"] == f"{agent.url}/a2a"
                card = await fetch_card(client, agent.url, **LIMITS)
                await send_message(client, card, text="hi", **LIMITS)
    assert sent == [("SendMessage", "1.0"), ("message/send", None)]


async def test_our_client_against_our_agents_in_both_versions(http, app_env):
    app_env(AUTH_SIGNING_KEY=SIGNING_KEY)  # our client signs the app token the agents accept
    group = await start_agents(
        ["modem-check"], base_port=0, settings=QUIET, enable_v0_3_compat=True
    )
    try:
        card = await fetch_card(http, group.urls["modem-check"], **LIMITS)
        assert card.protocol_version == "1.0"
        as_app = {**LIMITS, "credentials": AgentCredentials()}
        result = await send_message(http, card, data={"customerId": "CUST-0006"}, **as_app)
        assert (result.state, result.data["status"]) == ("completed", "NO_POWER")
        legacy = replace(card, protocol_version="0.3")
        result = await send_message(http, legacy, text="CUST-0005 red light", **as_app)
        assert result.data["status"] == "HARDWARE_FAULT"
    finally:
        await group.stop()
