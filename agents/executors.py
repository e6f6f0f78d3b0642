"""The bridge between the a2a-sdk and an agent's logic: read the message, send the reply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from a2a.helpers import get_data_parts, get_text_parts, new_data_part, new_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types import Message, Part
from a2a.utils.errors import UnsupportedOperationError

from agents.inputs import RequestInput, read_input

if TYPE_CHECKING:
    from agents.base import Reply, SpecialistAgent


def message_input(message: Message | None) -> RequestInput:
    """The data and text parts of a user message."""
    if message is None:
        return RequestInput(data={}, text="")
    return read_input(get_data_parts(message.parts), get_text_parts(message.parts))


def reply_parts(reply: Reply) -> list[Part]:
    """The reply as a text part plus a JSON data part."""
    return [new_text_part(reply.text), new_data_part(reply.data, media_type="application/json")]


class MessageExecutor(AgentExecutor):
    """Answers every request with one Message (the agent's logic is immediate)."""

    def __init__(self, agent: SpecialistAgent) -> None:
        self.agent = agent

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Run the agent's logic on the message and enqueue its reply."""
        reply = self.agent.handle(message_input(context.message))
        await event_queue.enqueue_event(
            new_message(reply_parts(reply), context_id=context.context_id)
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing to cancel: answers are immediate."""
        raise UnsupportedOperationError(message="This agent answers immediately; no task to cancel")
