"""Our client against peers written with a2a-sdk (tests/a2a_peers.py) the way real agents are:
streaming-only, slow streaming, silent, a Task with several artifacts of every part kind, and
0.3-only; each answered, the parts identical whatever the protocol version and transport."""

import json
from dataclasses import replace

import httpx
import pytest

from tests.a2a_peers import (
    FILE_BYTES,
    FILE_URL,
    FINDING,
    LIST_DATA,
    OBJECT_DATA,
    PART_METADATA,
    LocalPorts,
    MultiArtifactExecutor,
    card_of,
    multi_artifact_agent,
    slow_agent,
    streaming_only_agent,
)
from tests.sdk_agent import SdkAgent
from voicea2a.a2a import A2AError, A2AErrorKind, A2APart, A2AProgress, fetch_card, send_message

LIMITS = {"timeout": 10.0, "max_bytes": 1_000_000}


class Recorder:
    """An httpx client that records the JSON-RPC method and Accept header of every POST."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.client = httpx.AsyncClient(event_hooks={"request": [self._record]})

    async def _record(self, request: httpx.Request) -> None:
        if request.method == "POST":
            body = json.loads(request.content)
            self.sent.append((body["method"], request.headers.get("Accept", "")))


@pytest.fixture
async def recorder():
    recorder = Recorder()
    yield recorder
    await recorder.client.aclose()


class Progress:
    """An `on_progress` callback that keeps what it was given."""

    def __init__(self) -> None:
        self.reports: list[A2AProgress] = []

    async def __call__(self, progress: A2AProgress) -> None:
        self.reports.append(progress)


EXPECTED_PARTS = [
    # The status message of the completed task comes first, as `text` always joined it.
    {"kind": "text", "text": "Done."},
    {"kind": "text", "text": FINDING, "artifactId": "a-1", "artifactName": "summary"},
    {"kind": "data", "data": LIST_DATA, "artifactId": "a-1", "artifactName": "summary"},
    {
        "kind": "data",
        "data": OBJECT_DATA,
        "metadata": PART_METADATA,
        "artifactId": "a-2",
        "artifactName": "evidence",
    },
    {
        "kind": "file",
        "url": FILE_URL,
        "mediaType": "application/pdf",
        "filename": "outage-42.pdf",
        "artifactId": "a-2",
        "artifactName": "evidence",
    },
    {
        "kind": "file",
        "size": len(FILE_BYTES),
        "mediaType": "application/pdf",
        "filename": "tiny.pdf",
        "artifactId": "a-3",
    },
]


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_a_streaming_only_agent_is_answered_by_streaming(version, recorder):
    async with streaming_only_agent(version) as agent:
        card = await fetch_card(recorder.client, agent.url, **LIMITS)
        assert (card.protocol_version, card.streaming) == (version, True)
        progress = Progress()
        result = await send_message(
            recorder.client, card, text="is the line down?", on_progress=progress, **LIMITS
        )
        assert (result.state, result.text) == ("completed", FINDING)
        assert [p.text for p in progress.reports] == ["checking 1/2", "checking 2/2"]
        assert {(p.state, p.task_id) for p in progress.reports} == {("working", result.task_id)}
        # Asked without streaming, it refuses as the issue describes: -32004.
        with pytest.raises(A2AError) as refused:
            await send_message(recorder.client, card, text="again", stream=False, **LIMITS)
        assert (refused.value.kind, refused.value.rpc_code) == (A2AErrorKind.RPC_ERROR, -32004)
    method = "SendStreamingMessage" if version == "1.0" else "message/stream"
    blocking = "SendMessage" if version == "1.0" else "message/send"
    assert recorder.sent == [(method, "text/event-stream"), (blocking, "application/json")]


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_a_peer_that_ends_its_stream_with_the_task_keeps_one_connection(version):
    # a2a-sdk closes a stream after the task's last event: read to its end, the connection goes
    # back to the pool and the next call skips a TCP handshake.
    local = LocalPorts()
    async with (
        streaming_only_agent(version) as agent,
        httpx.AsyncClient(event_hooks={"response": [local]}) as client,
    ):
        card = await fetch_card(client, agent.url, **LIMITS)
        for _ in range(3):
            result = await send_message(client, card, text="is the line down?", **LIMITS)
            assert (result.state, result.text) == ("completed", FINDING)
    assert len(local.ports) == 4  # the card, then three calls
    assert len(set(local.ports)) == 1


async def test_a_slow_streaming_agent_is_answered_past_the_old_deadline(http):
    # Seven updates a second apart: 7 s in all, longer than the old 6 s deadline of a call,
    # each gap well inside the silence allowed.
    agent, _ = slow_agent(updates=7, interval=1.0)
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        progress = Progress()
        result = await send_message(
            http,
            card,
            text="check the line",
            timeout=60.0,
            silence=3.0,
            max_bytes=1_000_000,
            on_progress=progress,
        )
    assert (result.state, result.text) == ("completed", FINDING)
    assert [p.text for p in progress.reports] == [f"checking {i}/7" for i in range(1, 8)]


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_a_streaming_agent_longer_than_the_silence_is_answered(version, http):
    # In all four times the silence allowed, yet never silent that long.
    agent, _ = slow_agent(updates=8, interval=0.1, version=version)
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        result = await send_message(
            http, card, text="check", timeout=30.0, silence=0.2, max_bytes=1_000_000
        )
    assert (result.state, result.text) == ("completed", FINDING)


async def test_the_same_slow_agent_times_out_without_streaming(http):
    # The blocking call has one deadline for the whole task: what the issue reported.
    agent, _ = slow_agent(updates=8, interval=0.1)
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        with pytest.raises(A2AError) as timed_out:
            await send_message(
                http, card, text="check", stream=False, timeout=0.3, max_bytes=1_000_000
            )
    assert timed_out.value.kind is A2AErrorKind.TIMEOUT


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_a_silent_streaming_agent_times_out_by_the_silence_setting(version, http):
    agent, executor = slow_agent(updates=1, interval=0.0, hang=True, version=version)
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        progress = Progress()
        try:
            with pytest.raises(A2AError) as silent:
                await send_message(
                    http,
                    card,
                    text="check",
                    timeout=30.0,
                    silence=0.3,
                    max_bytes=1_000_000,
                    on_progress=progress,
                )
        finally:
            executor.release.set()
    assert silent.value.kind is A2AErrorKind.TIMEOUT
    assert "sent no event for 0.3 s" in silent.value.message
    assert [p.text for p in progress.reports] == ["checking 1/1"]


async def test_the_whole_task_deadline_holds_however_chatty_the_agent(http):
    agent, _ = slow_agent(updates=50, interval=0.05)
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        with pytest.raises(A2AError) as late:
            await send_message(
                http, card, text="check", timeout=0.5, silence=0.4, max_bytes=1_000_000
            )
    assert late.value.kind is A2AErrorKind.TIMEOUT
    assert "did not answer within 0.5 s" in late.value.message


async def test_max_bytes_applies_to_the_whole_stream(http):
    # Every event is small; together they are more than the cap.
    agent, _ = slow_agent(updates=30, interval=0.0)
    async with agent:
        card = await fetch_card(http, agent.url, **LIMITS)
        with pytest.raises(A2AError) as large:
            await send_message(http, card, text="check", timeout=10.0, max_bytes=4_000)
    assert large.value.kind is A2AErrorKind.TOO_LARGE


@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "blocking"])
@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_every_part_of_every_artifact_is_kept(version, streaming, recorder):
    async with multi_artifact_agent(version, streaming=streaming) as agent:
        card = await fetch_card(recorder.client, agent.url, **LIMITS)
        assert (card.protocol_version, card.streaming) == (version, streaming)
        result = await send_message(recorder.client, card, text="evidence please", **LIMITS)
    assert result.state == "completed"
    assert [part.to_json() for part in result.parts] == EXPECTED_PARTS
    # Compatibility: the texts joined, the object data parts merged, as before.
    assert result.text == f"Done.\n{FINDING}"
    assert result.data == OBJECT_DATA
    assert isinstance(result.data["eta"], int)
    (sent,) = recorder.sent
    assert (
        sent[0]
        == {
            ("1.0", True): "SendStreamingMessage",
            ("1.0", False): "SendMessage",
            ("0.3", True): "message/stream",
            ("0.3", False): "message/send",
        }[(version, streaming)]
    )


async def test_the_parts_are_identical_across_versions_and_transports(http):
    seen = []
    for version in ("1.0", "0.3"):
        for streaming in (True, False):
            async with multi_artifact_agent(version, streaming=streaming) as agent:
                card = await fetch_card(http, agent.url, **LIMITS)
                result = await send_message(http, card, text="evidence please", **LIMITS)
                seen.append(result.parts)
    assert all(parts == seen[0] for parts in seen)
    lists = [part for part in seen[0] if part.kind == "data" and isinstance(part.data, list)]
    assert lists == [
        A2APart("data", data=LIST_DATA, artifact_id="a-1", artifact_name="summary"),
    ]


async def test_one_peer_answers_the_same_parts_in_both_versions(recorder):
    # The same a2a-sdk server, its 0.3 compatibility on: asked in 1.0, then in 0.3.
    agent = SdkAgent(MultiArtifactExecutor(), card_of("both", "1.0", streaming=True), v0_3=True)
    async with agent:
        card = await fetch_card(recorder.client, agent.url, **LIMITS)
        in_1_0 = await send_message(recorder.client, card, text="evidence", **LIMITS)
        legacy = replace(card, protocol_version="0.3")
        in_0_3 = await send_message(recorder.client, legacy, text="evidence", **LIMITS)
    assert [m for m, _ in recorder.sent] == ["SendStreamingMessage", "message/stream"]
    assert [p.to_json() for p in in_1_0.parts] == EXPECTED_PARTS
    assert in_0_3.parts == in_1_0.parts
