"""A2A peers written for the tests with a2a-sdk (issue 16, item 6): agents the way real ones are
built, that our client must answer. Each is an `SdkAgent` on a free loopback port, with a card
listing only a 1.0 or only a 0.3 JSON-RPC interface.

- `streaming_only_agent`: streams; its blocking SendMessage / message/send fails with -32004.
- `slow_agent`: a status update with a message every `interval` seconds, `updates` times, then
  the answer; with `hang` it sends one update and then nothing until the test ends.
- `multi_artifact_agent`: a Task whose status message and three artifacts mix text, a list data
  part, an object data part with metadata, a file by URL and a file by bytes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from a2a.helpers import (
    new_data_part,
    new_raw_part,
    new_task_from_user_message,
    new_text_part,
    new_url_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.tasks import TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Message,
    SendMessageRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import UnsupportedOperationError
from google.protobuf.struct_pb2 import Struct

from tests.sdk_agent import SdkAgent

FINDING = "The line to Lunenburg is down; a crew is on site."
LIST_DATA: list[Any] = [1, "two", {"three": 3}, [4.5], None, True]
OBJECT_DATA: dict[str, Any] = {"status": "LOCAL_OUTAGE", "eta": 45}
PART_METADATA: dict[str, Any] = {"source": "grid-monitor", "confidence": 0.9}
FILE_URL = "https://files.example.com/reports/outage-42.pdf"
FILE_BYTES = b"%PDF-1.7 a tiny report"


def card_of(name: str, version: str, *, streaming: bool) -> Any:
    """A card factory for `SdkAgent`: one JSON-RPC interface of `version`."""

    def card(rpc_url: str) -> AgentCard:
        return AgentCard(
            name=name,
            description=f"{name}, written for the tests",
            version="1.0.0",
            supported_interfaces=[
                AgentInterface(url=rpc_url, protocol_binding="JSONRPC", protocol_version=version)
            ],
            capabilities=AgentCapabilities(streaming=streaming, push_notifications=False),
            default_input_modes=["text/plain"],
            default_output_modes=["text/plain", "application/json"],
            skills=[AgentSkill(id="check", name="Check", description="checks", tags=["check"])],
        )

    return card


async def _start_task(context: RequestContext, queue: EventQueue) -> TaskUpdater:
    message = context.message
    assert message is not None
    task = context.current_task or new_task_from_user_message(message)
    if context.current_task is None:
        await queue.enqueue_event(task)
    return TaskUpdater(queue, task.id, task.context_id)


class StreamingOnlyHandler(DefaultRequestHandler):
    """The SDK's handler with its blocking method refused, as a streaming-only agent does."""

    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Message | Task:
        """Always -32004 (UnsupportedOperation): this agent only streams."""
        raise UnsupportedOperationError(message="this agent only answers SendStreamingMessage")


class ProgressExecutor(AgentExecutor):
    """`updates` status updates with a message, `interval` seconds apart, then a completed task
    with an artifact; with `hang`, one update and then silence until `release` is set."""

    def __init__(self, updates: int, interval: float, *, hang: bool = False) -> None:
        self.updates, self.interval, self.hang = updates, interval, hang
        self.release = asyncio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Report progress, then answer."""
        updater = await _start_task(context, event_queue)
        for step in range(1, self.updates + 1):
            progress = updater.new_agent_message([new_text_part(f"checking {step}/{self.updates}")])
            await updater.update_status(TaskState.TASK_STATE_WORKING, message=progress)
            if self.hang:
                await self.release.wait()
                return
            await asyncio.sleep(self.interval)
        await updater.add_artifact([new_text_part(FINDING)], name="finding")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Not cancellable."""
        raise NotImplementedError


def _struct(values: dict[str, Any]) -> Struct:
    struct = Struct()
    struct.update(values)
    return struct


class MultiArtifactExecutor(AgentExecutor):
    """A Task: a working update, then three artifacts (text + list data; object data with
    metadata + file by URL; file by bytes), completed with a status message."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Answer with every kind of part."""
        updater = await _start_task(context, event_queue)
        await updater.start_work(updater.new_agent_message([new_text_part("gathering")]))
        await updater.add_artifact(
            [new_text_part(FINDING), new_data_part(LIST_DATA)], artifact_id="a-1", name="summary"
        )
        tagged = new_data_part(OBJECT_DATA)
        tagged.metadata.CopyFrom(_struct(PART_METADATA))
        report = new_url_part(FILE_URL, media_type="application/pdf", filename="outage-42.pdf")
        await updater.add_artifact([tagged, report], artifact_id="a-2", name="evidence")
        photo = new_raw_part(FILE_BYTES, media_type="application/pdf", filename="tiny.pdf")
        await updater.add_artifact([photo], artifact_id="a-3")
        await updater.complete(updater.new_agent_message([new_text_part("Done.")]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Not cancellable."""
        raise NotImplementedError


def streaming_only_agent(version: str = "1.0") -> SdkAgent:
    """Streams two updates and an answer; refuses blocking calls with -32004."""
    return SdkAgent(
        ProgressExecutor(updates=2, interval=0.05),
        card_of("streaming-only", version, streaming=True),
        v0_3=version == "0.3",
        handler=StreamingOnlyHandler,
    )


def slow_agent(
    updates: int, interval: float, *, hang: bool = False, version: str = "1.0"
) -> tuple[SdkAgent, ProgressExecutor]:
    """A streaming agent that works `updates` × `interval` seconds, reporting as it goes."""
    executor = ProgressExecutor(updates, interval, hang=hang)
    agent = SdkAgent(executor, card_of("slow", version, streaming=True), v0_3=version == "0.3")
    return agent, executor


def multi_artifact_agent(version: str = "1.0", *, streaming: bool = True) -> SdkAgent:
    """The multi-artifact Task, over `version`, offering streaming or not."""
    return SdkAgent(
        MultiArtifactExecutor(),
        card_of("multi-artifact", version, streaming=streaming),
        v0_3=version == "0.3",
    )


class LocalPorts:
    """An httpx response hook keeping each response's local port: one port, one connection."""

    def __init__(self) -> None:
        self.ports: list[int] = []

    async def __call__(self, response: httpx.Response) -> None:
        self.ports.append(response.extensions["network_stream"].get_extra_info("client_addr")[1])
