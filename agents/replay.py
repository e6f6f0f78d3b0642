"""At most once per message: a message sent again (same caller, same `messageId`) is answered
from the first time instead of being acted on again.

The app's client derives each delegation step's `messageId` from the orchestration instance,
the agent and the step, so a retried or re-run call carries the same one; that is what keeps a
retried booking from booking twice. The replay is the task as it stands now (a booking awaiting
approval shows its current state), or the first reply message. A `messageId` reused for a
different message is refused (-32602). Replies are kept per caller: another caller's message
with the same id is simply a new message. The latest REPLAY_ENTRIES messages are remembered
(the agents keep their tasks in memory, for their lifetime, too).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from a2a.server.cluster import StoredTask
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.types import Message, SendMessageRequest, Task
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError

REPLAY_ENTRIES = 10_000


@dataclass
class _Sent:
    fingerprint: bytes
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reply: Message | str | None = None  # the reply message, or the id of the task it started


class ReplayingRequestHandler(DefaultRequestHandler):
    """The a2a-sdk's request handler, acting on each (caller, messageId) at most once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sent: OrderedDict[tuple[str, str], _Sent] = OrderedDict()

    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Message | Task:
        """Act on a new message; answer a repeated one as the first time."""
        key = (context.user.user_name, params.message.message_id)
        fingerprint = hashlib.sha256(params.message.SerializeToString(deterministic=True)).digest()
        sent = self._sent.get(key)
        if sent is None:
            sent = self._sent[key] = _Sent(fingerprint)
            while len(self._sent) > REPLAY_ENTRIES:
                self._sent.popitem(last=False)
        elif sent.fingerprint != fingerprint:
            raise InvalidParamsError(message="This messageId was already used for another message")
        # A repeat that arrives while the first is still running waits for its outcome.
        async with sent.lock:
            if sent.reply is None:
                result = await super().on_message_send(params, context)
                sent.reply = result.id if isinstance(result, Task) else result
                return result
            if isinstance(sent.reply, Message):
                return sent.reply
            task = await self.task_store.get(sent.reply, context)
            if isinstance(task, StoredTask):  # what a versioned store returns, as the SDK does
                task = task.task
            if task is None:
                raise TaskNotFoundError(message=f"Task {sent.reply} no longer exists")
            return task
