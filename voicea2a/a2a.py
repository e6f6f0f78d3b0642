"""Our A2A client on httpx: read an agent's card, send it a message (A2A 1.0, or 0.3 for older).

Every call takes the caller's `httpx.AsyncClient` (the app passes `http_client()`), a total
`timeout` in seconds and a `max_bytes` cap on the response body, which is streamed and abandoned
as soon as it grows past the cap. Every failure is an `A2AError` (an `UpstreamUnavailable`)
whose `kind` says what went wrong; messages quote at most a short excerpt of a response body,
never a credential we sent. A message carries the credential its card asks for (a
`CredentialSource`: voicea2a/agentauth.py); the card itself is fetched without one.

An agent whose card offers streaming is answered over SSE (SendStreamingMessage; 0.3
message/stream), its progress handed to a callback, with a deadline on silence as well as on the
whole call. Every part of an answer is kept as an `A2APart`, read the same from 1.0 and 0.3
(docs/a2a-client.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NoReturn, NotRequired, Protocol, TypedDict
from urllib.parse import urlsplit

from opentelemetry.trace import SpanKind

from voicea2a.errors import UpstreamUnavailable
from voicea2a.telemetry.redaction import redact
from voicea2a.telemetry.spans import current_traceparent, mark_failed, span

if TYPE_CHECKING:
    import httpx

A2A_VERSION = "1.0"
CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")
ACCEPTED_OUTPUT_MODES = ("text/plain", "application/json")
EXCERPT_CHARS = 120
# How long a stream may take to end after its task's last event. A2A servers close it then, so
# it ends at once and its connection serves the next call; one that stays open is dropped.
STREAM_END_SECONDS = 0.05
# Only these caller headers are forwarded, so passing an incoming request's headers can never
# leak its credentials to an agent.
FORWARDED_HEADERS = frozenset({"traceparent", "tracestate", "x-correlation-id"})
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")

# A2A 1.0 (ProtoJSON enum names) and 0.3 task states -> our state names.
STATES = {
    "TASK_STATE_SUBMITTED": "submitted",
    "TASK_STATE_WORKING": "working",
    "TASK_STATE_INPUT_REQUIRED": "input-required",
    "TASK_STATE_COMPLETED": "completed",
    "TASK_STATE_FAILED": "failed",
    "TASK_STATE_CANCELED": "canceled",
    "TASK_STATE_REJECTED": "rejected",
    "TASK_STATE_AUTH_REQUIRED": "auth-required",
    **{
        name: name
        for name in (
            "submitted",
            "working",
            "input-required",
            "completed",
            "failed",
            "canceled",
            "rejected",
            "auth-required",
        )
    },
}
ERROR_STATES = frozenset({"failed", "rejected"})
# A call (blocking or streamed) ends at a terminal state, or at one that waits for someone.
FINAL_STATES = frozenset(
    {"completed", "failed", "rejected", "canceled", "input-required", "auth-required"}
)
# How a 0.3 server (a2a-sdk's compatibility layer) marks a data part whose value is not an
# object: 0.3 data parts must be objects, so a list arrives as {"value": [...]} with this flag.
DATA_PART_COMPAT = "data_part_compat"


class A2AErrorKind(enum.StrEnum):
    """How a call to an agent failed."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_STATUS = "http_status"
    RPC_ERROR = "rpc_error"
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    INVALID_CARD = "invalid_card"
    # The agent answered 401 or 403: it does not accept our credential.
    AUTH_REFUSED = "auth_refused"
    # We cannot produce the credential the card asks for.
    AUTH_UNAVAILABLE = "auth_unavailable"


class A2AError(UpstreamUnavailable):
    """A call to an agent failed; `kind` says how (503 when unreachable, else 502).

    `message` is ours alone; `detail` holds what the agent sent (an excerpt), for our logs only:
    whoever asked us to call the agent never sees it (the target could be an internal page)."""

    def __init__(
        self,
        kind: A2AErrorKind,
        message: str,
        *,
        detail: str = "",
        http_status: int | None = None,
        rpc_code: int | None = None,
        rpc_message: str | None = None,
    ) -> None:
        unreachable = kind in (A2AErrorKind.TIMEOUT, A2AErrorKind.CONNECTION)
        super().__init__(message, status=503 if unreachable else 502)
        self.kind = kind
        self.detail = detail
        self.http_status = http_status
        self.rpc_code = rpc_code
        self.rpc_message = rpc_message

    @property
    def reason(self) -> str:
        """The message with what the agent sent: for logs and the orchestration's history."""
        return f"{self.message}: {self.detail}" if self.detail else self.message


@dataclass(frozen=True)
class SkillInfo:
    """One skill from an agent card."""

    id: str
    name: str
    description: str
    tags: tuple[str, ...]
    examples: tuple[str, ...]


@dataclass(frozen=True)
class AgentCardInfo:
    """What we use of a validated agent card, and the card itself."""

    name: str
    description: str
    version: str
    skills: tuple[SkillInfo, ...]
    rpc_url: str
    protocol_version: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    # The card's `capabilities.streaming`: the agent answers SendStreamingMessage over SSE.
    streaming: bool = False


class CredentialSource(Protocol):
    """Where the credential for a call comes from (voicea2a/agentauth.py)."""

    async def headers(self, card: AgentCardInfo) -> dict[str, str]:
        """The headers that authenticate a call to the agent of `card` (A2AError if none can)."""
        ...


class PartJson(TypedDict):
    """One part of an answer as JSON (`A2APart.to_json`): the same for A2A 1.0 and 0.3."""

    kind: Literal["text", "data", "file"]
    text: NotRequired[str]
    data: NotRequired[Any]  # any JSON value: object, list, string, number, boolean or null
    url: NotRequired[str]  # a file by reference
    size: NotRequired[int]  # a file sent inline: its size in bytes (the bytes are not kept)
    mediaType: NotRequired[str]
    filename: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]
    artifactId: NotRequired[str]  # absent for a part of the message or of the status message
    artifactName: NotRequired[str]


@dataclass(frozen=True)
class A2APart:
    """One part of an agent's answer, whatever the protocol version: text, data (any JSON
    value) or a file (by URL, or inline: then only its size is kept), with where it came from."""

    kind: Literal["text", "data", "file"]
    text: str | None = None
    data: Any = None
    url: str | None = None
    size: int | None = None
    media_type: str | None = None
    filename: str | None = None
    metadata: Mapping[str, Any] | None = None
    artifact_id: str | None = None
    artifact_name: str | None = None

    def to_json(self) -> PartJson:
        """The part as JSON, only the fields it has (`data` always, for a data part)."""
        part: PartJson = {"kind": self.kind}
        if self.kind == "text":
            part["text"] = self.text or ""
        elif self.kind == "data":
            part["data"] = self.data
        if self.url is not None:
            part["url"] = self.url
        if self.size is not None:
            part["size"] = self.size
        if self.media_type:
            part["mediaType"] = self.media_type
        if self.filename:
            part["filename"] = self.filename
        if self.metadata:
            part["metadata"] = dict(self.metadata)
        if self.artifact_id:
            part["artifactId"] = self.artifact_id
        if self.artifact_name:
            part["artifactName"] = self.artifact_name
        return part


@dataclass(frozen=True)
class A2AResult:
    """An agent's answer: our state name, the joined text, the merged object data parts, the
    ids, and every part it sent (of the message, or of the task's status message and artifacts).

    `parts` are left out of equality: `text` and `data` are what most callers compare."""

    state: str
    text: str
    data: dict[str, Any]
    task_id: str | None
    context_id: str | None
    error: str | None = None
    parts: tuple[A2APart, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class A2AProgress:
    """A streamed status update that carried a message: the task is still at work."""

    state: str
    text: str
    task_id: str | None
    context_id: str | None


ProgressCallback = Callable[[A2AProgress], Awaitable[None]]


async def fetch_card(
    client: httpx.AsyncClient,
    base_url: str,
    *,
    timeout: float,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
) -> AgentCardInfo:
    """GET and validate the card at /.well-known/agent-card.json, else /.well-known/agent.json."""
    base = _http_url(base_url).rstrip("/")
    request_headers = {**forwarded_headers(headers), "Accept": "application/json"}
    try:
        async with asyncio.timeout(timeout):
            for path in CARD_PATHS:
                url = f"{base}{path}"
                status, body = await _exchange(
                    client,
                    "GET",
                    url,
                    headers=request_headers,
                    timeout=timeout,
                    max_bytes=max_bytes,
                )
                if status == 404:
                    continue
                if status != 200:
                    raise A2AError(
                        A2AErrorKind.HTTP_STATUS,
                        f"agent card at {url} returned HTTP {status}",
                        detail=_excerpt(body),
                        http_status=status,
                    )
                return parse_card(
                    _parse_json(body, A2AErrorKind.INVALID_CARD, f"agent card at {url}")
                )
    except TimeoutError:
        raise A2AError(
            A2AErrorKind.TIMEOUT, f"agent card at {base} not received within {timeout:g} s"
        ) from None
    raise A2AError(
        A2AErrorKind.HTTP_STATUS,
        f"no agent card at {base}{CARD_PATHS[0]} or {CARD_PATHS[1]} (HTTP 404)",
        http_status=404,
    )


def parse_card(card: Any) -> AgentCardInfo:
    """Validate a card (A2A 1.0 or 0.3) and pick its JSON-RPC endpoint (1.0 preferred)."""
    if not isinstance(card, dict):
        _invalid("the agent card must be a JSON object")
    skills = _list(card, "skills")
    rpc_url, protocol_version = _rpc_interface(card)
    return AgentCardInfo(
        name=_string(card, "name"),
        description=_string(card, "description", allow_empty=True),
        version=_string(card, "version"),
        skills=tuple(_skill(skill, f"skills[{i}]") for i, skill in enumerate(skills)),
        rpc_url=rpc_url,
        protocol_version=protocol_version,
        raw=card,
        streaming=card_streams(card),
    )


# Skill tags that say the agent's `input-required` is a question for a person (a supervisor),
# not for the caller: the original system's convention (its dispatch agent's `human-in-loop`).
PERSON_TAGS = frozenset({"human-in-loop", "human-in-the-loop"})
PERSON_SKILL_ID = "hitl"


def asks_a_person(card: Mapping[str, Any], skill: str) -> bool:
    """Whether `skill` on a raw card puts its questions to a person: the skill is tagged
    `human-in-the-loop` (or `human-in-loop`), or its id is `hitl`."""
    for declared in card.get("skills") or ():
        if isinstance(declared, dict) and declared.get("id") == skill:
            tags = declared.get("tags") or ()
            return skill == PERSON_SKILL_ID or any(tag in PERSON_TAGS for tag in tags)
    return False


def card_streams(card: Mapping[str, Any]) -> bool:
    """Whether a raw card offers streaming (`capabilities.streaming` is true)."""
    capabilities = card.get("capabilities")
    return isinstance(capabilities, dict) and capabilities.get("streaming") is True


async def send_message(
    client: httpx.AsyncClient,
    card: AgentCardInfo,
    *,
    text: str | None = None,
    context: str | None = None,
    data: Mapping[str, Any] | None = None,
    task_id: str | None = None,
    context_id: str | None = None,
    timeout: float,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    credentials: CredentialSource | None = None,
    message_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    stream: bool | None = None,
    silence: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> A2AResult:
    """Send one user message and wait for the answer; pass the ids to continue a task.

    `headers` may carry `traceparent`, `tracestate` and `x-correlation-id` to forward; any
    other header in it is not sent. The call runs in a client span (a child of the current span,
    else of the given `traceparent`), and that span's traceparent is what the agent receives.
    `credentials` authenticate the call; a stable `message_id` lets the agent recognise a
    repeated message (default: a new one); `metadata` goes on the message. `context` (earlier
    turns of the conversation) is a text part of its own, before `text`.

    With `stream` (default: when the card offers streaming) the message goes as
    SendStreamingMessage (0.3: message/stream) and the answer is read from the SSE stream until
    the task ends or waits for someone: `timeout` bounds the whole call, `silence` (default:
    `timeout`) each wait for the next event, `max_bytes` the whole stream; every status update
    that carries a message is handed to `on_progress` (awaited: keep it quick).
    """
    if text is None and data is None:
        raise ValueError("send_message needs text, data or both")
    streaming = card.streaming if stream is None else stream
    request_id = uuid.uuid4().hex
    message = _MessageFields(
        message_id or uuid.uuid4().hex,
        tuple(part for part in (context, text) if part is not None),
        data,
        task_id,
        context_id,
        dict(metadata or {}),
    )
    if card.protocol_version == A2A_VERSION:
        method = "SendStreamingMessage" if streaming else "SendMessage"
        payload = _request_v1(request_id, message, method)
        version_header = {"A2A-Version": A2A_VERSION}
    else:
        method = "message/stream" if streaming else "message/send"
        payload = _request_v03(request_id, message, method)
        # A 0.3 server reads a missing A2A-Version header as 0.3.
        version_header = {}
    forwarded = forwarded_headers(headers)
    attributes = {
        "a2a.agent": card.name,
        "a2a.protocol_version": card.protocol_version,
        "rpc.system": "jsonrpc",
        "rpc.method": method,
        "http.request.method": "POST",
        "url.full": redact(card.rpc_url),
        "server.address": urlsplit(card.rpc_url).hostname or "",
    }
    operation = "SendStreamingMessage" if streaming else "SendMessage"
    with span(
        f"A2A {operation} {card.name}",
        kind=SpanKind.CLIENT,
        traceparent=forwarded.get("traceparent"),
        attributes=attributes,
    ) as call_span:
        # Without an SDK the span is the parent's context, so the caller's traceparent goes on.
        traceparent = current_traceparent()
        if traceparent:
            forwarded["traceparent"] = traceparent
        secrets: list[str] = []
        try:
            async with asyncio.timeout(timeout) as limit:
                credential = await credentials.headers(card) if credentials else {}
                secrets = [value.removeprefix("Bearer ") for value in credential.values()]
                request_headers = {
                    **forwarded,
                    **version_header,
                    **credential,
                    "Content-Type": "application/json",
                    "Accept": "text/event-stream" if streaming else "application/json",
                }
                content = json.dumps(payload).encode()
                if streaming:
                    status, result = await _stream_exchange(
                        client,
                        card,
                        request_id,
                        headers=request_headers,
                        content=content,
                        timeout=timeout,
                        silence=silence or timeout,
                        max_bytes=max_bytes,
                        on_progress=on_progress,
                        ends_by=limit.when() or 0.0,
                    )
                else:
                    status, body = await _exchange(
                        client,
                        "POST",
                        card.rpc_url,
                        headers=request_headers,
                        content=content,
                        timeout=timeout,
                        max_bytes=max_bytes,
                    )
            call_span.set_attribute("http.response.status_code", status)
            if not streaming:
                result = _parse_reply(card, request_id, status, body)
        except TimeoutError:
            call_span.set_attribute("error.type", str(A2AErrorKind.TIMEOUT))
            raise A2AError(
                A2AErrorKind.TIMEOUT, f"agent '{card.name}' did not answer within {timeout:g} s"
            ) from None
        except A2AError as exc:
            call_span.set_attribute("error.type", str(exc.kind))
            raise _scrubbed(exc, secrets) from None
        call_span.set_attribute("a2a.task.state", result.state)
        if result.state in ERROR_STATES:
            mark_failed(call_span, f"task {result.state}")
        return result


def forwarded_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The trace headers of `headers` that we forward (an invalid `traceparent` is dropped)."""
    forwarded = {}
    for name, value in (headers or {}).items():
        key = name.lower()
        if key not in FORWARDED_HEADERS or not isinstance(value, str) or not value.isprintable():
            continue
        if key == "traceparent" and not _TRACEPARENT.fullmatch(value):
            continue
        forwarded[key] = value
    return forwarded


async def _exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    timeout: float,
    max_bytes: int,
    content: bytes | None = None,
) -> tuple[int, bytes]:
    import httpx

    try:
        async with client.stream(
            method, url, headers=headers, content=content, timeout=timeout
        ) as response:
            return response.status_code, await _read_body(response, url, max_bytes)
    except httpx.TimeoutException:
        raise A2AError(
            A2AErrorKind.TIMEOUT, f"{method} {url} timed out after {timeout:g} s"
        ) from None
    except httpx.HTTPError as exc:
        raise A2AError(
            A2AErrorKind.CONNECTION, f"{method} {url} failed: {type(exc).__name__}"
        ) from None


async def _read_body(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(url, max_bytes)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            # Leaving the stream closes the connection: the rest is never read.
            raise _too_large(url, max_bytes)
    return bytes(body)


async def _stream_exchange(
    client: httpx.AsyncClient,
    card: AgentCardInfo,
    request_id: str,
    *,
    headers: dict[str, str],
    content: bytes,
    timeout: float,
    silence: float,
    max_bytes: int,
    on_progress: ProgressCallback | None,
    ends_by: float,
) -> tuple[int, A2AResult]:
    """POST a streaming request; read the SSE reply, or a plain JSON one (an error, or a
    server that answers in one piece)."""
    import httpx

    url = card.rpc_url
    try:
        async with client.stream(
            "POST", url, headers=headers, content=content, timeout=timeout
        ) as response:
            media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if response.status_code != 200 or media_type != "text/event-stream":
                body = await _read_body(response, url, max_bytes)
                return response.status_code, _parse_reply(
                    card, request_id, response.status_code, body
                )
            result = await _read_stream(
                card,
                request_id,
                response,
                silence=silence,
                max_bytes=max_bytes,
                on_progress=on_progress,
                ends_by=ends_by,
            )
            # A stream read to its end leaves its connection to the pool; any other is closed.
            return response.status_code, result
    except httpx.TimeoutException:
        raise A2AError(A2AErrorKind.TIMEOUT, f"POST {url} timed out after {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise A2AError(
            A2AErrorKind.CONNECTION, f"POST {url} failed: {type(exc).__name__}"
        ) from None


async def _read_stream(
    card: AgentCardInfo,
    request_id: str,
    response: httpx.Response,
    *,
    silence: float,
    max_bytes: int,
    on_progress: ProgressCallback | None,
    ends_by: float,
) -> A2AResult:
    """Build the task up from the stream's events until it ends or waits for someone; each
    event must come within `silence` seconds of the one before (of the request, for the first).
    `ends_by` is the loop time the whole call must end by."""
    who = f"agent '{card.name}'"
    task = _StreamedTask()
    loop = asyncio.get_running_loop()
    quiet = asyncio.timeout(silence)
    events = _sse_data(response, card.rpc_url, max_bytes)
    try:
        async with quiet:
            async for data in events:
                quiet.reschedule(loop.time() + silence)
                result = _stream_result(who, request_id, data)
                try:
                    ended, progress = task.apply(result)
                except (KeyError, TypeError, ValueError) as exc:
                    raise A2AError(
                        A2AErrorKind.MALFORMED, f"{who} sent an unexpected stream event: {exc}"
                    ) from None
                if ended:
                    answer = task.result(who)
                    await _read_to_end(events, min(ends_by, quiet.when() or ends_by))
                    return answer
                if progress is not None and on_progress is not None:
                    await on_progress(progress)
    except TimeoutError:
        if quiet.expired():
            raise A2AError(A2AErrorKind.TIMEOUT, f"{who} sent no event for {silence:g} s") from None
        raise
    # Ended without a final state: the agent went away mid-task (worth another attempt).
    raise A2AError(
        A2AErrorKind.CONNECTION, f"{who} closed its stream before the task ended ({task.state})"
    )


async def _read_to_end(events: AsyncIterator[str], deadline: float) -> None:
    """Wait `STREAM_END_SECONDS` at most for a stream whose task has ended to end too: a response
    read to its end leaves its connection in the pool, and the next call skips a TCP handshake.
    A stream that goes on, fails or sends more is left; leaving it closes the connection. The
    wait ends well before `deadline` (loop time), so it never costs the call its answer."""
    import httpx

    loop = asyncio.get_running_loop()
    until = min(loop.time() + STREAM_END_SECONDS, deadline - STREAM_END_SECONDS)
    if until <= loop.time():
        return
    with contextlib.suppress(TimeoutError, A2AError, httpx.HTTPError):
        async with asyncio.timeout_at(until):
            async for _ in events:
                return  # an event after the last one: not ours to read


async def _sse_data(response: httpx.Response, url: str, max_bytes: int) -> AsyncIterator[str]:
    """The `data` of each server-sent event (its data lines joined), `max_bytes` in all."""
    received = 0
    buffer = b""
    lines: list[str] = []
    async for chunk in response.aiter_bytes():
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(url, max_bytes)
        buffer += chunk
        while True:
            line, buffer, complete = _next_line(buffer)
            if not complete:
                break
            if not line:  # a blank line dispatches the event
                if lines:
                    yield "\n".join(lines)
                lines = []
                continue
            field_name, _, value = line.partition(b":")
            # Comments (":" first), `event`, `id` and `retry` lines say nothing we use.
            if field_name == b"data":
                lines.append(value.removeprefix(b" ").decode("utf-8", "replace"))
    # An event not ended by a blank line is incomplete: dropped, as the SSE standard says.


def _next_line(buffer: bytes) -> tuple[bytes, bytes, bool]:
    """The first line of `buffer` and the rest; False when no whole line is there yet. Lines
    end with CRLF, LF or CR; a CR at the very end may be the first half of a CRLF."""
    cr, lf = buffer.find(b"\r"), buffer.find(b"\n")
    if cr == -1 and lf == -1:
        return b"", buffer, False
    if cr == -1 or (lf != -1 and lf < cr):
        return buffer[:lf], buffer[lf + 1 :], True
    if cr + 1 == len(buffer):
        return b"", buffer, False
    rest = cr + 2 if buffer[cr + 1 : cr + 2] == b"\n" else cr + 1
    return buffer[:cr], buffer[rest:], True


def _stream_result(who: str, request_id: str, data: str) -> dict[str, Any]:
    """The `result` of one stream event, which must be a JSON-RPC response to our request."""
    try:
        reply = json.loads(data)
    except (ValueError, RecursionError):
        reply = None
    if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
        raise A2AError(
            A2AErrorKind.MALFORMED,
            f"{who} sent a stream event that is no JSON-RPC 2.0 response",
            detail=_excerpt(data.encode()),
        )
    if _is_rpc_error(reply) and reply.get("id") in (request_id, None):
        raise _rpc_failure(who, reply, 200)
    if reply.get("id") != request_id:
        raise A2AError(A2AErrorKind.MALFORMED, f"{who} answered a different JSON-RPC request id")
    if not isinstance(reply.get("result"), dict):
        raise A2AError(A2AErrorKind.MALFORMED, f"{who} sent a stream event with no result object")
    return reply["result"]


class _StreamedTask:
    """What a stream has said so far: the task (its latest status, its artifacts with appended
    chunks joined), or the one message that answered instead."""

    def __init__(self) -> None:
        self.task: dict[str, Any] | None = None
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.message: dict[str, Any] | None = None

    @property
    def state(self) -> str:
        """Our name of the task's latest state ("no task" before the first event)."""
        if self.task is None:
            return "no task"
        return _state(self.task["status"])

    def apply(self, result: dict[str, Any]) -> tuple[bool, A2AProgress | None]:
        """Take one event in: whether the call has ended, and the progress it reports."""
        kind, body = _stream_event(result)
        if kind == "message":
            self.message = body
            return True, None
        if kind == "task":
            self.task = {key: value for key, value in body.items() if key != "artifacts"}
            for artifact in body.get("artifacts") or []:
                self._artifact(artifact, append=False)
            return _state(body["status"]) in FINAL_STATES, None
        task = self._task(body)
        if kind == "artifact":
            self._artifact(body["artifact"], append=body.get("append") is True)
            return False, None
        status = body["status"]
        state = _state(status)
        task["status"] = status
        # 0.3 marks the last event with `final` (1.0 dropped it: the state says it).
        if state in FINAL_STATES or body.get("final") is True:
            return True, None
        if not isinstance(status.get("message"), dict):
            return False, None
        text, _ = _text_and_data(_parts(status["message"]))
        ids = _optional_str(task.get("id")), _optional_str(task.get("contextId"))
        return False, A2AProgress(state, text, *ids)

    def result(self, who: str) -> A2AResult:
        """The answer, as a blocking call would have returned it."""
        if self.message is not None:
            return _from_message(self.message)
        if self.task is None:
            raise A2AError(A2AErrorKind.MALFORMED, f"{who} streamed no task and no message")
        return _from_task({**self.task, "artifacts": list(self.artifacts.values())})

    def _task(self, update: dict[str, Any]) -> dict[str, Any]:
        if self.task is None:  # an update before the task itself: start from its ids
            self.task = {
                "id": update.get("taskId"),
                "contextId": update.get("contextId"),
                "status": {"state": "submitted"},
            }
        return self.task

    def _artifact(self, artifact: Any, *, append: bool) -> None:
        if not isinstance(artifact, dict):
            raise TypeError("an artifact is not an object")
        _parts(artifact)  # checked now: a bad part fails at the event that brought it
        key = _optional_str(artifact.get("artifactId")) or f"#{len(self.artifacts)}"
        earlier = self.artifacts.get(key)
        if append and earlier is not None:
            self.artifacts[key] = {**earlier, "parts": [*earlier["parts"], *artifact["parts"]]}
        else:
            self.artifacts[key] = artifact


def _stream_event(result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A 1.0 StreamResponse wraps one of four objects; a 0.3 event is one, tagged `kind`."""
    for key, kind in (
        ("task", "task"),
        ("message", "message"),
        ("statusUpdate", "status"),
        ("artifactUpdate", "artifact"),
    ):
        if isinstance(result.get(key), dict):
            return kind, result[key]
    kinds = {
        "task": "task",
        "message": "message",
        "status-update": "status",
        "artifact-update": "artifact",
    }
    tagged = kinds.get(str(result.get("kind")))
    if tagged is None:
        raise ValueError("the event is no task, message, status update or artifact update")
    return tagged, result


def _scrubbed(exc: A2AError, secrets: list[str]) -> A2AError:
    # An agent may echo what it was sent (a token, a key) in an error; it must not reach our logs.
    for secret in secrets:
        exc.message = exc.message.replace(secret, "[redacted]")
        exc.detail = exc.detail.replace(secret, "[redacted]")
        if exc.rpc_message is not None:
            exc.rpc_message = exc.rpc_message.replace(secret, "[redacted]")
    exc.args = (exc.message,)
    return exc


def _too_large(url: str, max_bytes: int) -> A2AError:
    return A2AError(A2AErrorKind.TOO_LARGE, f"response from {url} is larger than {max_bytes} bytes")


def _parse_json(body: bytes, kind: A2AErrorKind, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise A2AError(kind, f"{what} is not valid JSON", detail=_excerpt(body)) from None


def _excerpt(body: bytes) -> str:
    text = " ".join(body[: EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
    text = "".join(ch for ch in text if ch.isprintable())
    if not text:
        return "(empty body)"
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


# --- card validation -------------------------------------------------------------------------


def _invalid(message: str) -> NoReturn:
    raise A2AError(A2AErrorKind.INVALID_CARD, message)


def _string(obj: dict[str, Any], key: str, path: str = "", *, allow_empty: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        kind = "a string" if allow_empty else "a non-empty string"
        missing = " (missing)" if key not in obj else ""
        _invalid(f"card field '{path}{key}' must be {kind}{missing}")
    return value


def _list(obj: dict[str, Any], key: str, path: str = "") -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        missing = " (missing)" if key not in obj else ""
        _invalid(f"card field '{path}{key}' must be a list{missing}")
    return value


def _strings(obj: dict[str, Any], key: str, path: str, *, required: bool) -> tuple[str, ...]:
    if key not in obj and not required:
        return ()
    values = _list(obj, key, path)
    if not all(isinstance(value, str) for value in values):
        _invalid(f"card field '{path}{key}' must be a list of strings")
    return tuple(values)


def _skill(skill: Any, path: str) -> SkillInfo:
    if not isinstance(skill, dict):
        _invalid(f"card field '{path}' must be an object")
    prefix = f"{path}."
    return SkillInfo(
        id=_string(skill, "id", prefix),
        name=_string(skill, "name", prefix),
        description=_string(skill, "description", prefix, allow_empty=True),
        tags=_strings(skill, "tags", prefix, required=True),
        examples=_strings(skill, "examples", prefix, required=False),
    )


def _rpc_interface(card: dict[str, Any]) -> tuple[str, str]:
    if "supportedInterfaces" in card:
        interfaces = _list(card, "supportedInterfaces")
        found: dict[str, str] = {}
        for i, interface in enumerate(interfaces):
            path = f"supportedInterfaces[{i}]."
            if not isinstance(interface, dict):
                _invalid(f"card field 'supportedInterfaces[{i}]' must be an object")
            binding = _string(interface, "protocolBinding", path)
            version = _major_minor(_string(interface, "protocolVersion", path))
            if binding.upper() == "JSONRPC":
                found.setdefault(version, _rpc_url(interface, "url", path))
        for version in (A2A_VERSION, "0.3"):
            if version in found:
                return found[version], version
    if "url" in card:
        # A 0.3 card: top-level url with preferredTransport, or additionalInterfaces.
        transport = card.get("preferredTransport", "JSONRPC")
        if isinstance(transport, str) and transport.upper() == "JSONRPC":
            return _rpc_url(card, "url", ""), "0.3"
        for i, interface in enumerate(card.get("additionalInterfaces") or []):
            path = f"additionalInterfaces[{i}]."
            if isinstance(interface, dict) and str(interface.get("transport")).upper() == "JSONRPC":
                return _rpc_url(interface, "url", path), "0.3"
    return _invalid("card has no JSON-RPC interface for A2A 1.0 or 0.3")


def _rpc_url(obj: dict[str, Any], key: str, path: str) -> str:
    url = _string(obj, key, path)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _invalid(f"card field '{path}{key}' must be an http(s) URL")
    return url


def _major_minor(version: str) -> str:
    return ".".join(version.strip().split(".")[:2])


# --- JSON-RPC request and reply --------------------------------------------------------------


@dataclass(frozen=True)
class _MessageFields:
    message_id: str
    texts: tuple[str, ...]
    data: Mapping[str, Any] | None
    task_id: str | None
    context_id: str | None
    metadata: dict[str, str]


def _request_v1(request_id: str, fields: _MessageFields, method: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": text} for text in fields.texts]
    if fields.data is not None:
        parts.append({"data": dict(fields.data), "mediaType": "application/json"})
    message: dict[str, Any] = {"messageId": fields.message_id, "role": "ROLE_USER", "parts": parts}
    message.update(_optional_fields(fields))
    configuration = {"acceptedOutputModes": list(ACCEPTED_OUTPUT_MODES), "returnImmediately": False}
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": method,
        "params": {"message": message, "configuration": configuration},
    }


def _request_v03(request_id: str, fields: _MessageFields, method: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"kind": "text", "text": text} for text in fields.texts]
    if fields.data is not None:
        parts.append({"kind": "data", "data": dict(fields.data)})
    message: dict[str, Any] = {
        "kind": "message",
        "messageId": fields.message_id,
        "role": "user",
        "parts": parts,
    }
    message.update(_optional_fields(fields))
    configuration = {"acceptedOutputModes": list(ACCEPTED_OUTPUT_MODES), "blocking": True}
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": method,
        "params": {"message": message, "configuration": configuration},
    }


def _optional_fields(fields: _MessageFields) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    if fields.task_id is not None:
        ids["taskId"] = fields.task_id
    if fields.context_id is not None:
        ids["contextId"] = fields.context_id
    if fields.metadata:
        ids["metadata"] = fields.metadata
    return ids


def _parse_reply(card: AgentCardInfo, request_id: str, status: int, body: bytes) -> A2AResult:
    who = f"agent '{card.name}'"
    if status in (401, 403):
        # Its body is not quoted: an agent refusing a credential may well echo it.
        raise A2AError(
            A2AErrorKind.AUTH_REFUSED,
            f"{who} refused our credential (HTTP {status})",
            http_status=status,
        )
    try:
        reply = json.loads(body)
    except (ValueError, RecursionError):
        reply = None
    if status != 200 and not _is_rpc_error(reply):
        raise A2AError(
            A2AErrorKind.HTTP_STATUS,
            f"{who} returned HTTP {status}",
            detail=_excerpt(body),
            http_status=status,
        )
    if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
        raise A2AError(
            A2AErrorKind.MALFORMED, f"{who} sent no JSON-RPC 2.0 reply", detail=_excerpt(body)
        )
    if _is_rpc_error(reply) and reply.get("id") in (request_id, None):
        raise _rpc_failure(who, reply, status)
    if reply.get("id") != request_id:
        raise A2AError(A2AErrorKind.MALFORMED, f"{who} answered a different JSON-RPC request id")
    if "result" not in reply:
        raise A2AError(A2AErrorKind.MALFORMED, f"{who} sent a JSON-RPC reply with no result")
    try:
        return _result(reply["result"])
    except (KeyError, TypeError, ValueError) as exc:
        raise A2AError(A2AErrorKind.MALFORMED, f"{who} sent an unexpected result: {exc}") from None


def _rpc_failure(who: str, reply: dict[str, Any], status: int) -> A2AError:
    error = reply["error"]
    return A2AError(
        A2AErrorKind.RPC_ERROR,
        f"{who} returned JSON-RPC error {error['code']}",
        detail=_excerpt(error["message"].encode()),
        http_status=status,
        rpc_code=error["code"],
        rpc_message=error["message"][:EXCERPT_CHARS],
    )


def _is_rpc_error(reply: Any) -> bool:
    if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
        return False
    error = reply.get("error")
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and not isinstance(error.get("code"), bool)
        and isinstance(error.get("message"), str)
    )


def _result(result: Any) -> A2AResult:
    """A 1.0 result wraps `task` or `message`; a 0.3 result is one, tagged with `kind`."""
    if not isinstance(result, dict):
        raise TypeError("result is not an object")
    if isinstance(result.get("task"), dict):
        return _from_task(result["task"])
    if isinstance(result.get("message"), dict):
        return _from_message(result["message"])
    kind = result.get("kind")
    if kind == "task" or (kind is None and "status" in result):
        return _from_task(result)
    if kind == "message" or (kind is None and "parts" in result):
        return _from_message(result)
    raise ValueError("result is neither a task nor a message")


def _state(status: Any) -> str:
    if not isinstance(status, dict):
        raise TypeError("task status is not an object")
    state = STATES.get(str(status.get("state")))
    if state is None:
        raise ValueError(f"unknown task state {str(status.get('state'))[:40]!r}")
    return state


def _from_task(task: dict[str, Any]) -> A2AResult:
    status = task["status"]
    state = _state(status)
    parts = []
    if isinstance(status.get("message"), dict):
        parts.extend(_parts(status["message"]))
    artifacts = task.get("artifacts") or []
    if not isinstance(artifacts, list):
        raise TypeError("task artifacts is not a list")
    for artifact in artifacts:
        parts.extend(_parts(artifact, artifact=True))
    text, data = _text_and_data(parts)
    return A2AResult(
        state=state,
        text=text,
        data=data,
        task_id=_optional_str(task.get("id")),
        context_id=_optional_str(task.get("contextId")),
        error=(text or f"task {state}") if state in ERROR_STATES else None,
        parts=tuple(parts),
    )


def _from_message(message: dict[str, Any]) -> A2AResult:
    parts = _parts(message)
    text, data = _text_and_data(parts)
    return A2AResult(
        state="completed",
        text=text,
        data=data,
        task_id=_optional_str(message.get("taskId")),
        context_id=_optional_str(message.get("contextId")),
        parts=tuple(parts),
    )


def _parts(container: Any, *, artifact: bool = False) -> list[A2APart]:
    """The parts of a message or (with `artifact`) of an artifact, marked with where from."""
    if not isinstance(container, dict) or not isinstance(container.get("parts"), list):
        raise TypeError("a message or artifact has no parts list")
    artifact_id = _optional_str(container.get("artifactId")) if artifact else None
    artifact_name = _optional_str(container.get("name")) if artifact else None
    return [_part(part, artifact_id, artifact_name) for part in container["parts"]]


def _part(part: Any, artifact_id: str | None, artifact_name: str | None) -> A2APart:
    """One part, 1.0 (exactly one of text, data, url, raw) or 0.3 (tagged `kind`), as the same
    A2APart: 0.3's wrapped non-object data is unwrapped, whole numbers are integers again."""
    if not isinstance(part, dict):
        raise TypeError("a part is not an object")
    metadata = part.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError("a part's metadata is not an object")
    meta: dict[str, Any] = _whole_numbers(metadata) if metadata else {}
    kind = part.get("kind")  # 0.3 only
    media_type = _optional_str(part.get("mediaType"))
    filename = _optional_str(part.get("filename"))
    if kind == "file":
        file = part.get("file")
        if not isinstance(file, dict):
            raise TypeError("a file part has no file object")
        media_type, filename = _optional_str(file.get("mimeType")), _optional_str(file.get("name"))
        source = {"url": file["uri"]} if "uri" in file else {"raw": file.get("bytes")}
    else:
        source = part
    if kind == "data" and meta.pop(DATA_PART_COMPAT, None) is True:
        # a2a-sdk's 0.3 layer sent a non-object value wrapped: unwrap it as its client does.
        wrapped = source.get("data")
        source = {"data": wrapped.get("value") if isinstance(wrapped, dict) else wrapped}
    content: tuple[tuple[Literal["text", "data", "file"], str], ...] = (
        ("text", "text"),
        ("data", "data"),
        ("file", "url"),
        ("file", "raw"),
    )
    for part_kind, key in content:
        if kind not in (part_kind, None) or key not in source:
            continue
        value = source[key]
        if key in ("text", "url") and not isinstance(value, str):
            raise TypeError(f"a part's {key} is not a string")
        return A2APart(
            part_kind,
            text=value if key == "text" else None,
            data=_whole_numbers(value) if key == "data" else None,
            url=value if key == "url" else None,
            size=_decoded_size(value) if key == "raw" else None,
            media_type=media_type,
            filename=filename,
            metadata=meta or None,
            artifact_id=artifact_id,
            artifact_name=artifact_name,
        )
    raise ValueError(f"a part of unknown kind {str(kind or sorted(part))[:60]!r}")


def _decoded_size(encoded: Any) -> int:
    """The size of base64 content (ProtoJSON accepts the standard and the URL-safe alphabet)."""
    if not isinstance(encoded, str):
        raise TypeError("a file part's bytes are not a base64 string")
    text = encoded.strip().replace("-", "+").replace("_", "/")
    try:
        return len(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))
    except (binascii.Error, ValueError):
        raise ValueError("a file part's bytes are not valid base64") from None


def _text_and_data(parts: list[A2APart]) -> tuple[str, dict[str, Any]]:
    """The texts joined; the object data parts merged (later keys win), as callers used them."""
    texts: list[str] = []
    data: dict[str, Any] = {}
    for part in parts:
        if part.kind == "text" and part.text is not None:
            texts.append(part.text)
        elif part.kind == "data" and isinstance(part.data, dict):
            data.update(part.data)
    return "\n".join(texts), data


def _whole_numbers(value: Any) -> Any:
    # A2A 1.0 data parts are protobuf Values, which carry every number as a double: 3 arrives
    # as 3.0. Give whole numbers back their integer form.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
