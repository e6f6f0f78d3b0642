"""The bridge between the a2a-sdk and an agent's logic: read the message, send the reply."""

from __future__ import annotations

import re
from dataclasses import replace

from a2a.helpers import get_data_parts, get_text_parts, new_data_part, new_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types import Part
from a2a.utils.errors import UnsupportedOperationError

from agents.base import Reply, SpecialistAgent
from agents.inputs import RequestInput, read_input

# The end user a caller acts for (message metadata `onBehalfOf`, a pseudonym): any other shape
# is ignored, so it cannot smuggle a separator into the limits' keys.
_ON_BEHALF_OF = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def message_input(context: RequestContext) -> RequestInput:
    """The data and text parts of the request's user message, and who sent it."""
    message = context.message
    if message is None:
        return RequestInput(data={}, text="", caller=caller_of(context))
    request = read_input(get_data_parts(message.parts), get_text_parts(message.parts))
    return replace(request, caller=caller_of(context))


def caller_of(context: RequestContext) -> str:
    """The verified subject (agents/security.py), and the end user it acts for if it says so."""
    subject = "".join(ch for ch in context.call_context.user.user_name if ch.isprintable())
    metadata = context.message.metadata if context.message is not None else None
    on_behalf_of = metadata["onBehalfOf"] if metadata and "onBehalfOf" in metadata else None
    if isinstance(on_behalf_of, str) and _ON_BEHALF_OF.fullmatch(on_behalf_of):
        return f"{subject}|{on_behalf_of}"
    return subject


def reply_parts(reply: Reply) -> list[Part]:
    """The reply as a text part plus a JSON data part."""
    return [new_text_part(reply.text), new_data_part(reply.data, media_type="application/json")]


class MessageExecutor(AgentExecutor):
    """Answers every request with one Message (the agent's logic is immediate)."""

    def __init__(self, agent: SpecialistAgent) -> None:
        self.agent = agent

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Run the agent's logic on the message and enqueue its reply."""
        reply = self.agent.handle(message_input(context))
        await event_queue.enqueue_event(
            new_message(reply_parts(reply), context_id=context.context_id)
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing to cancel: answers are immediate."""
        raise UnsupportedOperationError(message="This agent answers immediately; no task to cancel")


def executor_for(agent: SpecialistAgent) -> AgentExecutor:
    """The executor serving `agent`: its own (a task-based one), else one Message per request."""
    return agent.create_executor() or MessageExecutor(agent)
