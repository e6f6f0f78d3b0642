"""voicea2a.a2a's streaming and part parsers (issue 16, item 6): SSE framing, every part kind in
1.0 and 0.3 read to the same A2APart, and a loopback SSE server that misbehaves in the ways a
stream can."""

import asyncio
import base64
import json

import httpx
import pytest
from aiohttp import web

from tests.loopback import LoopbackServer
from voicea2a.a2a import (
    STREAM_END_SECONDS,
    A2AError,
    A2AErrorKind,
    A2APart,
    AgentCardInfo,
    _next_line,
    _part,
    _read_to_end,
    _sse_data,
    parse_card,
    send_message,
)

LIMITS = {"timeout": 5.0, "max_bytes": 64 * 1024}


# --- SSE framing ---------------------------------------------------------------------------


class FakeResponse:
    """What _sse_data reads of an httpx response: its body, in the chunks given."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def aiter_bytes(self):
        for chunk in self.chunks:
            yield chunk


async def events_of(chunks: list[bytes], max_bytes: int = 1 << 20) -> list[str]:
    return [data async for data in _sse_data(FakeResponse(chunks), "http://x/a2a", max_bytes)]


STREAM = (
    b": a comment, ignored\r\n"
    b"event: message\r\nid: 1\r\nretry: 10\r\n"
    b'data: {"a": 1}\r\n\r\n'
    b"data:no space\n\n"
    b"data: first line\rdata: second line\r\r"
    b"data: \n\n"
    b"\n\n"
    b"data: never ended"
)
EXPECTED = ['{"a": 1}', "no space", "first line\nsecond line", ""]


async def test_sse_events_with_every_line_ending_comments_and_fields():
    # An empty data line is an event whose data is ""; blank lines alone are none; the last,
    # unterminated event is dropped, as the SSE standard says.
    assert await events_of([STREAM]) == EXPECTED


async def test_sse_events_split_at_every_byte():
    assert await events_of([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_a_cr_at_the_end_of_the_buffer_waits_for_a_possible_lf():
    assert _next_line(b"data: x\r") == (b"", b"data: x\r", False)
    assert _next_line(b"data: x\r\ndata") == (b"data: x", b"data", True)
    assert _next_line(b"data: x\rdata") == (b"data: x", b"data", True)


async def test_sse_max_bytes_counts_the_whole_stream():
    chunks = [b'data: {"n": 1}\n\n'] * 100
    with pytest.raises(A2AError) as large:
        await events_of(chunks, max_bytes=500)
    assert large.value.kind is A2AErrorKind.TOO_LARGE


# --- parts, 1.0 and 0.3 ----------------------------------------------------------------------

RAW = b"\x00\xffbinary\xfe"
PARTS_1_0 = [
    {"text": "hi", "mediaType": "text/plain"},
    {"data": [1.0, "x", {"n": 2.0}]},
    {"data": {"k": 3.0}, "metadata": {"m": 1.0}},
    {"data": "a string"},
    {"data": None},
    {"url": "https://f.example/r.pdf", "mediaType": "application/pdf", "filename": "r.pdf"},
    {"raw": base64.b64encode(RAW).decode(), "mediaType": "image/png", "filename": "p.png"},
]
PARTS_0_3 = [
    {"kind": "text", "text": "hi"},
    {
        "kind": "data",
        "data": {"value": [1.0, "x", {"n": 2.0}]},
        "metadata": {"data_part_compat": True},
    },
    {"kind": "data", "data": {"k": 3.0}, "metadata": {"m": 1.0}},
    {"kind": "data", "data": {"value": "a string"}, "metadata": {"data_part_compat": True}},
    {"kind": "data", "data": {"value": None}, "metadata": {"data_part_compat": True}},
    {
        "kind": "file",
        "file": {"uri": "https://f.example/r.pdf", "mimeType": "application/pdf", "name": "r.pdf"},
    },
    {
        "kind": "file",
        "file": {"bytes": base64.b64encode(RAW).decode(), "mimeType": "image/png", "name": "p.png"},
    },
]
EXPECTED_PARTS = [
    A2APart("text", text="hi"),
    A2APart("data", data=[1, "x", {"n": 2}]),
    A2APart("data", data={"k": 3}, metadata={"m": 1}),
    A2APart("data", data="a string"),
    A2APart("data", data=None),
    A2APart("file", url="https://f.example/r.pdf", media_type="application/pdf", filename="r.pdf"),
    A2APart("file", size=len(RAW), media_type="image/png", filename="p.png"),
]


def test_every_part_kind_reads_the_same_in_1_0_and_0_3():
    read_1_0 = [_part(part, None, None) for part in PARTS_1_0]
    read_0_3 = [_part(part, None, None) for part in PARTS_0_3]
    # 0.3 text parts carry no media type: that field is the only one 1.0 alone can send.
    assert read_1_0[0].media_type == "text/plain"
    assert [A2APart("text", text="hi"), *read_1_0[1:]] == EXPECTED_PARTS
    assert read_0_3 == EXPECTED_PARTS
    assert isinstance(read_0_3[1].data[0], int)


def test_a_0_3_object_named_value_without_the_compat_flag_stays_an_object():
    part = _part({"kind": "data", "data": {"value": [1]}}, None, None)
    assert part.data == {"value": [1]}
    # A 1.0 part never is unwrapped: the flag means something only to 0.3.
    flagged = _part({"data": {"value": [1]}, "metadata": {"data_part_compat": True}}, None, None)
    assert (flagged.data, flagged.metadata) == ({"value": [1]}, {"data_part_compat": True})


def test_url_safe_and_unpadded_base64_are_sized():
    encoded = base64.urlsafe_b64encode(b"\xfb\xff\xfe??").decode().rstrip("=")
    assert _part({"raw": encoded}, None, None).size == 5


@pytest.mark.parametrize(
    "part",
    [
        {"raw": "not base64!"},
        {"raw": 12},
        {"text": 3},
        {"url": None},
        {"kind": "file", "file": "x"},
        {"mystery": 1},
        {"kind": "image", "image": "x"},
        {"text": "x", "metadata": [1]},
        "a string",
    ],
)
async def test_a_bad_part_is_a_malformed_answer(part, agent, client):
    task = {
        "id": "t",
        "status": {"state": "TASK_STATE_COMPLETED"},
        "artifacts": [{"parts": [part]}],
    }
    agent.script = [sse(ok_event(agent, {"task": task}))]
    with pytest.raises(A2AError) as malformed:
        await send_message(client, agent.card(), text="x", **LIMITS)
    assert malformed.value.kind is A2AErrorKind.MALFORMED


def test_part_json_has_only_what_the_part_has():
    part = A2APart("file", size=3, media_type="image/png", artifact_id="a", artifact_name="n")
    assert part.to_json() == {
        "kind": "file",
        "size": 3,
        "mediaType": "image/png",
        "artifactId": "a",
        "artifactName": "n",
    }
    assert A2APart("data", data=None).to_json() == {"kind": "data", "data": None}
    assert A2APart("text", text="").to_json() == {"kind": "text", "text": ""}


def test_a_card_offers_streaming_only_when_it_says_true():
    base = {
        "name": "n",
        "description": "",
        "version": "1",
        "skills": [],
        "url": "http://127.0.0.1:1/a2a",
    }
    assert parse_card({**base, "capabilities": {"streaming": True}}).streaming is True
    for capabilities in ({"streaming": "yes"}, {}, None, {"streaming": False}):
        assert parse_card({**base, "capabilities": capabilities}).streaming is False


# --- a loopback SSE server -------------------------------------------------------------------


def sse(*events: dict | str) -> bytes:
    return b"".join(
        f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events
    )


class SseAgent:
    """Answers every POST with `script` (a list of byte chunks) as text/event-stream, or with
    `status`/`content_type` when set; `hold` keeps the stream open after the script."""

    def __init__(self) -> None:
        self.script: list[bytes] = []
        self.status = 200
        self.content_type = "text/event-stream"
        self.hold = False
        self.release = asyncio.Event()
        self.requests: list[tuple[dict, dict]] = []
        self.peers: list[tuple[str, int]] = []  # the client's address, per request
        self.request_id = ""

    async def start(self) -> "SseAgent":
        app = web.Application()
        app.router.add_post("/a2a", self._post)
        self._server = LoopbackServer(app, shutdown_timeout=1)
        self.url = await self._server.start()
        return self

    async def stop(self) -> None:
        self.release.set()
        await self._server.stop()

    def card(self, version: str = "1.0") -> AgentCardInfo:
        return AgentCardInfo(
            name="sse",
            description="",
            version="1",
            skills=(),
            rpc_url=f"{self.url}/a2a",
            protocol_version=version,
            raw={},
            streaming=True,
        )

    async def _post(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.request_id = body["id"]
        self.requests.append((dict(request.headers), body))
        assert request.transport is not None
        self.peers.append(request.transport.get_extra_info("peername"))
        response = web.StreamResponse(
            status=self.status, headers={"Content-Type": self.content_type}
        )
        await response.prepare(request)
        try:
            for chunk in self.script:
                await response.write(chunk.replace(b"$ID", self.request_id.encode()))
            if self.hold:
                await self.release.wait()
        except ConnectionError:
            pass
        return response


def ok_event(agent: SseAgent, result: dict) -> str:
    # The request id is filled in when the request arrives.
    return json.dumps({"jsonrpc": "2.0", "id": "$ID", "result": result})


@pytest.fixture
async def agent():
    server = await SseAgent().start()
    yield server
    await server.stop()


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as http:
        yield http


def status(state: str, text: str | None = None) -> dict:
    update: dict = {"taskId": "t-1", "contextId": "c-1", "status": {"state": state}}
    if text is not None:
        update["status"]["message"] = {"role": "ROLE_AGENT", "parts": [{"text": text}]}
    return {"statusUpdate": update}


TASK = {"task": {"id": "t-1", "contextId": "c-1", "status": {"state": "TASK_STATE_SUBMITTED"}}}


async def test_artifact_chunks_are_joined_and_the_request_is_a_stream(agent, client):
    agent.script = [
        sse(
            ok_event(agent, TASK),
            ok_event(agent, status("TASK_STATE_WORKING", "looking")),
            ok_event(
                agent,
                {"artifactUpdate": {"artifact": {"artifactId": "a", "parts": [{"text": "one"}]}}},
            ),
            ok_event(
                agent,
                {
                    "artifactUpdate": {
                        "append": True,
                        "artifact": {"artifactId": "a", "parts": [{"data": [2.0]}]},
                    }
                },
            ),
            ok_event(agent, status("TASK_STATE_COMPLETED")),
        )
    ]
    reports = []

    async def progress(report):
        reports.append(report)

    result = await send_message(client, agent.card(), text="x", on_progress=progress, **LIMITS)
    assert (result.state, result.text, result.task_id, result.context_id) == (
        "completed",
        "one",
        "t-1",
        "c-1",
    )
    assert [p.to_json() for p in result.parts] == [
        {"kind": "text", "text": "one", "artifactId": "a"},
        {"kind": "data", "data": [2], "artifactId": "a"},
    ]
    assert [(r.state, r.text) for r in reports] == [("working", "looking")]
    headers, body = agent.requests[0]
    assert (body["method"], headers["Accept"], headers["A2A-Version"]) == (
        "SendStreamingMessage",
        "text/event-stream",
        "1.0",
    )


async def test_a_0_3_stream_ends_at_final_and_a_replaced_artifact_replaces(agent, client):
    task = {"kind": "task", "id": "t", "contextId": "c", "status": {"state": "submitted"}}
    artifact = {"kind": "artifact-update", "taskId": "t", "contextId": "c"}
    agent.script = [
        sse(
            ok_event(agent, task),
            ok_event(
                agent,
                {
                    **artifact,
                    "artifact": {"artifactId": "a", "parts": [{"kind": "text", "text": "old"}]},
                },
            ),
            ok_event(
                agent,
                {
                    **artifact,
                    "artifact": {"artifactId": "a", "parts": [{"kind": "text", "text": "new"}]},
                },
            ),
            ok_event(
                agent,
                {
                    "kind": "status-update",
                    "taskId": "t",
                    "status": {"state": "working"},
                    "final": True,
                },
            ),
        )
    ]
    agent.hold = True  # nothing more comes: the client must stop at `final`
    result = await send_message(client, agent.card("0.3"), text="x", **LIMITS)
    assert (result.state, result.text) == ("working", "new")
    assert agent.requests[0][1]["method"] == "message/stream"


async def test_input_required_ends_the_call(agent, client):
    agent.script = [
        sse(ok_event(agent, TASK), ok_event(agent, status("TASK_STATE_INPUT_REQUIRED", "which?")))
    ]
    agent.hold = True
    result = await send_message(client, agent.card(), text="x", **LIMITS)
    assert (result.state, result.text, result.task_id) == ("input-required", "which?", "t-1")


COMPLETED = status("TASK_STATE_COMPLETED", "done")


async def test_a_stream_that_ends_with_its_task_leaves_its_connection_to_the_next_call(
    agent, client
):
    agent.script = [sse(ok_event(agent, TASK), ok_event(agent, COMPLETED))]
    for _ in range(2):
        result = await send_message(client, agent.card(), text="x", **LIMITS)
        assert (result.state, result.text) == ("completed", "done")
    assert len(agent.peers) == 2 and agent.peers[0] == agent.peers[1]


@pytest.mark.parametrize("more", [False, True], ids=["held open", "sending more"])
async def test_a_stream_that_goes_on_after_its_task_ended_is_closed_not_read(more, agent, client):
    # The answer is the task's last state, and the connection is closed (the next call opens
    # another), not waited on or left half read in the pool.
    agent.script = [sse(ok_event(agent, TASK), ok_event(agent, COMPLETED))]
    if more:
        agent.script.append(sse(ok_event(agent, status("TASK_STATE_WORKING", "more"))))
    agent.hold = True
    for _ in range(2):
        result = await send_message(client, agent.card(), text="x", **LIMITS)
        assert (result.state, result.text) == ("completed", "done")
    assert len(agent.peers) == 2 and agent.peers[0] != agent.peers[1]


async def test_no_wait_for_the_end_of_a_stream_when_the_call_is_nearly_out_of_time():
    read = []

    async def events():
        read.append("an event")
        yield "{}"

    loop = asyncio.get_running_loop()
    await _read_to_end(events(), loop.time() + STREAM_END_SECONDS)
    assert read == []
    await _read_to_end(events(), loop.time() + 10)
    assert read == ["an event"]


async def test_a_streamed_message_is_the_answer(agent, client):
    message = {"message": {"role": "ROLE_AGENT", "contextId": "c", "parts": [{"text": "hi"}]}}
    agent.script = [sse(ok_event(agent, message))]
    agent.hold = True
    result = await send_message(client, agent.card(), text="x", **LIMITS)
    assert (result.state, result.text, result.context_id) == ("completed", "hi", "c")


async def test_a_stream_closed_before_the_end_is_a_connection_failure(agent, client):
    agent.script = [sse(ok_event(agent, TASK), ok_event(agent, status("TASK_STATE_WORKING")))]
    with pytest.raises(A2AError) as cut:
        await send_message(client, agent.card(), text="x", **LIMITS)
    assert cut.value.kind is A2AErrorKind.CONNECTION
    assert "closed its stream before the task ended (working)" in cut.value.message


async def test_an_error_in_the_stream_is_an_rpc_error(agent, client):
    error = {"jsonrpc": "2.0", "id": "$ID", "error": {"code": -32603, "message": "boom"}}
    agent.script = [sse(ok_event(agent, TASK), json.dumps(error))]
    with pytest.raises(A2AError) as failed:
        await send_message(client, agent.card(), text="x", **LIMITS)
    assert (failed.value.kind, failed.value.rpc_code) == (A2AErrorKind.RPC_ERROR, -32603)


@pytest.mark.parametrize(
    "event",
    [
        "not json",
        json.dumps({"jsonrpc": "2.0", "id": "other", "result": TASK}),
        json.dumps({"jsonrpc": "2.0", "id": "$ID", "result": [1]}),
        json.dumps({"jsonrpc": "2.0", "id": "$ID", "result": {"surprise": {}}}),
        json.dumps(
            {"jsonrpc": "2.0", "id": "$ID", "result": {"statusUpdate": {"status": {"state": "??"}}}}
        ),
    ],
    ids=["not-json", "other-id", "no-object", "unknown-event", "unknown-state"],
)
async def test_a_bad_stream_event_is_malformed(event, agent, client):
    agent.script = [sse(event)]
    with pytest.raises(A2AError) as malformed:
        await send_message(client, agent.card(), text="x", **LIMITS)
    assert malformed.value.kind is A2AErrorKind.MALFORMED


async def test_a_json_answer_to_a_stream_request_is_read_as_one(agent, client):
    agent.content_type = "application/json"
    agent.script = [
        json.dumps(
            {"jsonrpc": "2.0", "id": "$ID", "error": {"code": -32004, "message": "no streams"}}
        ).encode()
    ]
    with pytest.raises(A2AError) as refused:
        await send_message(client, agent.card(), text="x", **LIMITS)
    assert (refused.value.kind, refused.value.rpc_code) == (A2AErrorKind.RPC_ERROR, -32004)


async def test_a_refused_credential_on_a_stream(agent, client):
    agent.status, agent.content_type = 401, "application/json"
    agent.script = [b'{"detail": "bad token"}']
    with pytest.raises(A2AError) as refused:
        await send_message(client, agent.card(), text="x", **LIMITS)
    assert refused.value.kind is A2AErrorKind.AUTH_REFUSED


async def test_silence_counts_events_not_comments(agent, client):
    # Keep-alive comments are not events: an agent that only pings is silent.
    agent.script = [sse(ok_event(agent, TASK)), b": ping\n\n"]
    agent.hold = True
    with pytest.raises(A2AError) as silent:
        await send_message(client, agent.card(), text="x", silence=0.2, **LIMITS)
    assert silent.value.kind is A2AErrorKind.TIMEOUT
    assert "sent no event for 0.2 s" in silent.value.message
