"""A hold-out A2A agent for the tests, built directly on a2a-sdk: a skill no code of ours has
ever seen (tide tables). It records what each message brought (text parts, data parts, the
A2A contextId) and answers in words. It may ask first; with `for_a_person` its skill is tagged
`human-in-the-loop`, so its question goes to a supervisor instead of the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from a2a.helpers import (
    get_data_parts,
    get_text_parts,
    new_message,
    new_task_from_user_message,
    new_text_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill

from tests.sdk_agent import SdkAgent

ANSWER = "High tide at Halifax is at 14:05, low tide at 20:17."
QUESTION = "Which harbour?"


@dataclass
class Received:
    """One message as the agent got it."""

    texts: list[str]  # the text parts, in order
    data: list[dict[str, Any]]
    context_id: str
    task_id: str | None = None  # the task the message continues, if any


@dataclass
class TideExecutor(AgentExecutor):
    """Answers every message with the day's tides, remembering what it was sent."""

    received: list[Received] = field(default_factory=list)
    asks_first: bool = False  # a new request gets a task waiting for input (QUESTION)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Record the message, answer with one agent message in the same context; asking
        first, a new request opens a task that waits for the harbour, and its answer ends it."""
        message = context.message
        assert message is not None
        continued = context.current_task.id if context.current_task else None
        texts, data = get_text_parts(message.parts), get_data_parts(message.parts)
        self.received.append(Received(texts, data, context.context_id, continued))
        if self.asks_first:
            task = context.current_task or new_task_from_user_message(message)
            if context.current_task is None:
                await event_queue.enqueue_event(task)
            updater = TaskUpdater(event_queue, task.id, task.context_id)
            if continued is None:
                await updater.requires_input(updater.new_agent_message([new_text_part(QUESTION)]))
            else:
                await updater.complete(updater.new_agent_message([new_text_part(ANSWER)]))
            return
        reply = new_message([new_text_part(ANSWER)], context_id=context.context_id)
        await event_queue.enqueue_event(reply)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing runs long enough to cancel."""
        raise NotImplementedError


def _card(rpc_url: str, tags: list[str]) -> AgentCard:
    return AgentCard(
        name="Tide Tables",
        description="Tide times for Canadian harbours.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=rpc_url, protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=False, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(
                id="tide_tables",
                name="Tide tables",
                description="High and low tide times for a harbour and a day.",
                tags=tags,
                examples=["When is high tide in Halifax today?"],
            )
        ],
    )


class TideAgent(SdkAgent):
    """The agent on a free loopback port."""

    def __init__(self, *, asks_first: bool = False, for_a_person: bool = False) -> None:
        self.executor = TideExecutor(asks_first=asks_first or for_a_person)
        tags = ["tides", "harbour"] + (["human-in-the-loop"] if for_a_person else [])
        super().__init__(self.executor, lambda rpc_url: _card(rpc_url, tags))

    @property
    def received(self) -> list[Received]:
        """What the agent was sent, in order."""
        return self.executor.received
