"""A hold-out A2A agent for the tests, built directly on a2a-sdk: a skill no code of ours has
ever seen (tide tables). It records what each message brought (text parts, data parts, the
A2A contextId) and answers in words."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from a2a.helpers import get_data_parts, get_text_parts, new_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from starlette.applications import Starlette

from tests.waiting import wait_until_async

ANSWER = "High tide at Halifax is at 14:05, low tide at 20:17."


@dataclass
class Received:
    """One message as the agent got it."""

    texts: list[str]  # the text parts, in order
    data: list[dict[str, Any]]
    context_id: str


@dataclass
class TideExecutor(AgentExecutor):
    """Answers every message with the day's tides, remembering what it was sent."""

    received: list[Received] = field(default_factory=list)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Record the message, answer with one agent message in the same context."""
        message = context.message
        assert message is not None
        self.received.append(
            Received(
                get_text_parts(message.parts), get_data_parts(message.parts), context.context_id
            )
        )
        reply = new_message([new_text_part(ANSWER)], context_id=context.context_id)
        await event_queue.enqueue_event(reply)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing runs long enough to cancel."""
        raise NotImplementedError


class TideAgent:
    """The agent on a free loopback port (`async with`, or `start`/`stop`)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.executor = TideExecutor()
        card = AgentCard(
            name="Tide Tables",
            description="Tide times for Canadian harbours.",
            version="1.0.0",
            supported_interfaces=[
                AgentInterface(
                    url=f"{self.url}/a2a", protocol_binding="JSONRPC", protocol_version="1.0"
                )
            ],
            capabilities=AgentCapabilities(streaming=False, push_notifications=False),
            default_input_modes=["text/plain"],
            default_output_modes=["text/plain"],
            skills=[
                AgentSkill(
                    id="tide_tables",
                    name="Tide tables",
                    description="High and low tide times for a harbour and a day.",
                    tags=["tides", "harbour"],
                    examples=["When is high tide in Halifax today?"],
                )
            ],
        )
        handler = DefaultRequestHandler(
            agent_executor=self.executor, task_store=InMemoryTaskStore(), agent_card=card
        )
        app = Starlette(
            routes=create_agent_card_routes(card) + create_jsonrpc_routes(handler, rpc_url="/a2a")
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def received(self) -> list[Received]:
        """What the agent was sent, in order."""
        return self.executor.received

    async def start(self) -> str:
        """Serve until `stop`; the agent's base URL."""
        self._task = asyncio.create_task(self.server.serve())
        await wait_until_async(lambda: self.server.started, what="the tide agent to start")
        return self.url

    async def stop(self) -> None:
        """Stop serving."""
        self.server.should_exit = True
        if self._task is not None:
            await self._task
