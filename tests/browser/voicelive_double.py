"""A Voice Live test double: a loopback WebSocket server speaking the Voice Live realtime events
at the transport level (session.created/updated, a response with function calls, audio deltas,
transcripts, text deltas, response.done), recording every client event for the test to check.

Typed text (a user `message` item with `input_text`, then `response.create`) is answered like a
model would: a `send_to_agent_network` call whose `request` is the typed text, then, once its
output is back, a reply that carries the output's answer: spoken (audio and transcript) in a
voice session, streamed as `response.text.delta` in a text-only one (`modalities: ["text"]`).
A system message then `response.create` (a follow-up the page hands the model) is spoken."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import secrets
import struct
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.conftest import remember_secret

TOOL_NAME = "send_to_agent_network"
FRAME_TIMEOUT = 30
FORM_NOTE = "\n\n(Form fields:"  # what the page adds to typed text when form fields are filled


def tone(samples: int = 2400) -> str:
    """100 ms of a quiet 440 Hz tone, PCM16 24 kHz mono, base64 (a response.audio.delta)."""
    pcm = b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / 24000)))
        for i in range(samples)
    )
    return base64.b64encode(pcm).decode()


@dataclass
class Connection:
    """What one browser connection sent."""

    path: str
    query: dict[str, list[str]]
    refused: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)  # every non-audio event
    audio_chunks: int = 0
    audio_bytes: int = 0
    answered: threading.Event = field(default_factory=threading.Event)  # the reply was spoken
    done: threading.Event = field(default_factory=threading.Event)  # the connection ended
    error: str | None = None
    modalities: list[str] | None = None  # as the session.update asked
    typed: list[tuple[str, str]] = field(default_factory=list)  # (call_id, text) per typed message
    replies: list[str] = field(default_factory=list)  # the reply to each typed message
    replied: threading.Event = field(default_factory=threading.Event)  # a typed message answered
    follow_ups: list[str] = field(default_factory=list)  # each system message's text, once spoken
    followed_up: threading.Event = field(default_factory=threading.Event)  # one was spoken

    def outputs(self) -> list[tuple[str, dict[str, Any]]]:
        """(call_id, parsed output) of each function_call_output, in the order sent."""
        return [
            (e["item"]["call_id"], json.loads(e["item"]["output"]))
            for e in self.events
            if e["type"] == "conversation.item.create"
            and e.get("item", {}).get("type") == "function_call_output"
        ]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def typed_items(self) -> list[dict[str, Any]]:
        """The user message items the browser created (typed text)."""
        creates = [e["item"] for e in self.events if e["type"] == "conversation.item.create"]
        return [item for item in creates if item.get("type") == "message"]


class VoiceLiveDouble:
    """Per connection: wait for session.update and some microphone audio, then (first
    connection) emit `calls` in one response, or (a reconnect) wait for `release` and emit
    `reconnect_calls`; collect the outputs until response.create, then answer it aloud."""

    def __init__(
        self,
        api_key: str,
        calls: list[tuple[str, dict[str, Any]]],
        *,
        drop_after_calls: bool = False,
        reconnect_calls: list[tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.api_key = api_key
        self.calls = calls
        self.drop_after_calls = drop_after_calls
        self.reconnect_calls = reconnect_calls or []
        self.connections: list[Connection] = []
        self.release = threading.Event()
        self.connected = threading.Event()
        self._server = None
        self.port: int | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> int:
        # Its own logger, at INFO: websockets logs each request line at DEBUG, and the browser
        # puts the Voice Live key in the query, as Voice Live's key mode wants it.
        logger = logging.getLogger("tests.voicelive_double")
        logger.setLevel(logging.INFO)
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=2**22, logger=logger)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        url = urlsplit(ws.request.path)
        log = Connection(url.path, parse_qs(url.query))
        self.connections.append(log)
        if url.path != "/voice-live/realtime" or log.query.get("api-key") != [self.api_key]:
            log.refused = True
            await ws.close(1008, "unauthorized")
            return
        self.connected.set()
        try:
            await self._converse(ws, log, first=len(self.connections) == 1)
        except Exception as error:  # recorded for the test to report
            log.error = f"{type(error).__name__}: {error}"
        finally:
            log.answered.set()  # also on failure: the test reads `error` instead of waiting
            log.done.set()

    async def _converse(self, ws: ServerConnection, log: Connection, first: bool) -> None:
        await self._send(ws, {"type": "session.created", "session": {"id": "sess_double"}})
        update = await self._next(ws, log, {"session.update"})
        await self._send(ws, {"type": "session.updated", "session": update["session"]})
        log.modalities = update["session"].get("modalities")
        if log.modalities == ["text"]:  # typed text only: no microphone, no scripted calls
            await self._typed_turns(ws, log, spoken=False)
            return
        await self._wait_audio(ws, log)
        if first:
            calls = self.calls
        else:
            await asyncio.to_thread(self.release.wait, FRAME_TIMEOUT)
            calls = self.reconnect_calls
        response_id = f"resp_{len(self.connections)}"
        await self._emit_calls(ws, response_id, calls)
        if first and self.drop_after_calls:
            await ws.close(1011, "dropped by the test double")
            return
        expected = {call_id for call_id, _ in calls}
        while True:
            await self._next(ws, log, {"response.create"})
            answered = {call_id for call_id, _ in log.outputs()}
            if expected <= answered:
                break
        await self._speak(ws, "reply_" + response_id, "Here is what the specialists found.")
        log.answered.set()
        # Keep listening (and answering typed text) until the browser goes away.
        await self._typed_turns(ws, log, spoken=True)

    async def _typed_turns(self, ws: ServerConnection, log: Connection, spoken: bool) -> None:
        """Each typed message: a tool call built from its text, then the reply with its answer."""
        turn = 0
        while True:
            try:
                event = await self._next(ws, log, {"conversation.item.create"}, timeout=None)
            except ConnectionClosed:
                return  # the browser went away: the end of the conversation
            item = event["item"]
            if item.get("type") == "message" and item.get("role") == "system":
                await self._follow_up(ws, log, item, len(log.follow_ups) + 1)
                continue
            if item.get("type") != "message" or item.get("role") != "user":
                continue
            item_id = item.get("id") or f"item_typed_{turn + 1}"
            taken = {**item, "id": item_id, "status": "completed"}
            await self._send(ws, {"type": "conversation.item.created", "item": taken})
            text = next(c["text"] for c in item["content"] if c["type"] == "input_text")
            await self._next(ws, log, {"response.create"})
            turn += 1
            call_id = f"call_typed_{turn}_{id(log):x}"
            log.typed.append((call_id, text))
            request = text.split(FORM_NOTE)[0]
            await self._emit_calls(ws, f"resp_typed_{turn}", [(call_id, {"request": request})])
            while True:
                await self._next(ws, log, {"response.create"})
                outputs = dict(log.outputs())
                if call_id in outputs:
                    break
            output = outputs[call_id]
            reply = f"The specialists say: {output.get('answer') or output.get('message')}"
            if spoken:
                await self._speak(ws, f"reply_typed_{turn}", reply)
            else:
                await self._write(ws, f"reply_typed_{turn}", reply)
            log.replies.append(reply)
            log.replied.set()

    async def _follow_up(
        self, ws: ServerConnection, log: Connection, item: dict[str, Any], n: int
    ) -> None:
        """A system message the model is asked to speak: taken, then said after response.create."""
        await self._send(
            ws, {"type": "conversation.item.created", "item": {**item, "id": f"sys_{n}"}}
        )
        text = next(c["text"] for c in item["content"] if c["type"] == "input_text")
        await self._next(ws, log, {"response.create"})
        await self._speak(ws, f"reply_follow_up_{n}", text.rsplit(": ", 1)[-1])
        log.follow_ups.append(text)
        log.followed_up.set()

    async def _write(self, ws: ServerConnection, response_id: str, text: str) -> None:
        """A text-only reply: the message item, its text in three deltas, done events."""
        item_id = f"msg_{response_id}"
        part = {"response_id": response_id, "item_id": item_id, "output_index": 0}
        item = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress"}
        await self._send(ws, {"type": "response.created", "response": {"id": response_id}})
        await self._send(
            ws, {"type": "response.output_item.added", **part, "item": {**item, "content": []}}
        )
        third = max(1, len(text) // 3)
        for delta in (text[:third], text[third : 2 * third], text[2 * third :]):
            await self._send(
                ws, {"type": "response.text.delta", **part, "content_index": 0, "delta": delta}
            )
        await self._send(
            ws, {"type": "response.text.done", **part, "content_index": 0, "text": text}
        )
        done_item = {**item, "status": "completed", "content": [{"type": "text", "text": text}]}
        await self._send(ws, {"type": "response.output_item.done", **part, "item": done_item})
        await self._send(
            ws, {"type": "response.done", "response": {"id": response_id, "status": "completed"}}
        )

    async def _emit_calls(
        self, ws: ServerConnection, response_id: str, calls: list[tuple[str, dict]]
    ) -> None:
        await self._send(
            ws,
            {
                "type": "response.created",
                "response": {"id": response_id, "status": "in_progress", "output": []},
            },
        )
        items = []
        for index, (call_id, arguments) in enumerate(calls):
            item_id = f"item_{call_id}"
            item = {
                "id": item_id,
                "type": "function_call",
                "name": TOOL_NAME,
                "call_id": call_id,
                "arguments": "",
                "status": "in_progress",
            }
            common = {"response_id": response_id, "output_index": index}
            await self._send(ws, {"type": "response.output_item.added", **common, "item": item})
            await self._send(ws, {"type": "conversation.item.created", "item": item})
            text = json.dumps(arguments)
            for delta in (text[: len(text) // 2], text[len(text) // 2 :]):
                await self._send(
                    ws,
                    {
                        "type": "response.function_call_arguments.delta",
                        **common,
                        "item_id": item_id,
                        "call_id": call_id,
                        "delta": delta,
                    },
                )
            await self._send(
                ws,
                {
                    "type": "response.function_call_arguments.done",
                    **common,
                    "item_id": item_id,
                    "call_id": call_id,
                    "name": TOOL_NAME,
                    "arguments": text,
                },
            )
            done_item = {**item, "arguments": text, "status": "completed"}
            items.append(done_item)
            await self._send(ws, {"type": "response.output_item.done", **common, "item": done_item})
        await self._send(
            ws,
            {
                "type": "response.done",
                "response": {"id": response_id, "status": "completed", "output": items},
            },
        )

    async def _speak(self, ws: ServerConnection, response_id: str, text: str) -> None:
        await self._send(ws, {"type": "response.created", "response": {"id": response_id}})
        await self._send(
            ws, {"type": "response.audio.delta", "response_id": response_id, "delta": tone()}
        )
        await self._send(
            ws,
            {
                "type": "response.audio_transcript.done",
                "response_id": response_id,
                "transcript": text,
            },
        )
        await self._send(
            ws, {"type": "response.done", "response": {"id": response_id, "status": "completed"}}
        )

    async def _wait_audio(self, ws: ServerConnection, log: Connection) -> None:
        while log.audio_chunks == 0:
            self._record(log, await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))

    async def _next(
        self,
        ws: ServerConnection,
        log: Connection,
        types: set[str],
        timeout: float | None = FRAME_TIMEOUT,
    ) -> dict:
        """Record events until one of `types` arrives (bounded unless `timeout` is None)."""
        while True:
            event = self._record(log, await asyncio.wait_for(ws.recv(), timeout))
            if event and event["type"] in types:
                return event

    @staticmethod
    def _record(log: Connection, message: str | bytes) -> dict | None:
        event = json.loads(message)
        if event.get("type") == "input_audio_buffer.append":
            log.audio_chunks += 1
            log.audio_bytes += len(base64.b64decode(event["audio"], validate=True))
            return None
        log.events.append(event)
        return event

    @staticmethod
    async def _send(ws: ServerConnection, event: dict) -> None:
        await ws.send(json.dumps(event))


# The key the double accepts, unless a test gives it another (no log line may show it).
VOICE_KEY = remember_secret("voice-double-key-" + secrets.token_hex(16))


def double_settings(double: VoiceLiveDouble) -> dict[str, str]:
    """The app settings that point voice at `double` with VOICE_KEY."""
    return {
        "VOICE_LIVE_ENDPOINT": double.endpoint,  # plain http: allowed on loopback only
        "VOICE_LIVE_AUTH_MODE": "key",
        "VOICE_LIVE_API_KEY": VOICE_KEY,
        "VOICE_LIVE_API_VERSION": "2026-07-15",
        "VOICE_LIVE_MODEL": "gpt-realtime",
    }


def posted_bodies(page: Any) -> dict[str, dict[str, Any]]:
    """callId -> the POST /api/messages body the page sent."""
    bodies = {}
    for method, url, data in page.requests:
        if method == "POST" and url.endswith("/api/messages") and data:
            body = json.loads(data)
            bodies[body["callId"]] = body
    return bodies
