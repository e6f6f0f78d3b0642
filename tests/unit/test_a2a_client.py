"""voicea2a.a2a against loopback servers that misbehave in every way we guard against."""

import asyncio
import json
import socket

import httpx
import pytest
from aiohttp import web

from tests.conftest import remember_secret
from tests.loopback import LoopbackServer
from voicea2a.a2a import (
    EXCERPT_CHARS,
    A2AError,
    A2AErrorKind,
    A2AResult,
    AgentCardInfo,
    asks_a_person,
    fetch_card,
    forwarded_headers,
    parse_card,
    send_message,
)
from voicea2a.errors import UpstreamUnavailable, error_body

LIMITS = {"timeout": 5.0, "max_bytes": 64 * 1024}
TEN_MB = 10 * 1024 * 1024
CHUNK = 64 * 1024
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def card_json(**overrides):
    card = {
        "name": "Contoso Test Agent",
        "description": "answers",
        "version": "1.0.0",
        "supportedInterfaces": [
            {
                "url": "http://127.0.0.1:1/a2a",
                "protocolBinding": "JSONRPC",
                "protocolVersion": "1.0",
            }
        ],
        "capabilities": {"streaming": False},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [
            {"id": "s1", "name": "Skill", "description": "does", "tags": ["t"], "examples": ["e"]}
        ],
    }
    card.update(overrides)
    return card


class LoopbackAgent:
    """An aiohttp server on 127.0.0.1 whose card and JSON-RPC answers each test scripts."""

    def __init__(self):
        self.cards = {"/.well-known/agent-card.json": (200, json.dumps(card_json()).encode())}
        self.rpc = lambda request: (200, {"jsonrpc": "2.0", "id": request["id"], "result": {}})
        self.requests = []
        self.streamed = 0
        self.stream_done = asyncio.Event()
        self.release = asyncio.Event()

    async def start(self):
        app = web.Application()
        app.router.add_get("/{path:.*}", self._get)
        app.router.add_post("/a2a", self._post)
        # A hanging handler's request is not waited for long at shutdown.
        self._server = LoopbackServer(app, shutdown_timeout=1)
        self.url = await self._server.start()
        return self

    async def stop(self):
        self.release.set()
        await self._server.stop()

    def card(self, rpc_version="1.0"):
        """A validated card pointing at this server's /a2a."""
        return AgentCardInfo(
            name="loopback",
            description="",
            version="1",
            skills=(),
            rpc_url=f"{self.url}/a2a",
            protocol_version=rpc_version,
            raw={},
        )

    async def _get(self, request):
        path = "/" + request.match_info["path"]
        if path.startswith("/stream/"):
            return await self._stream(request, declared=path.startswith("/stream/declared/"))
        if path in ("/drip/.well-known/agent-card.json", "/slow/.well-known/agent-card.json"):
            return await self._slow(request, drip=path.startswith("/drip"))
        status, body = self.cards.get(path, (404, b"not here"))
        return web.Response(status=status, body=body, content_type="application/json")

    async def _post(self, request):
        body = await request.json()
        self.requests.append((request.headers.copy(), body))
        answer = self.rpc(body)
        if answer == "hang":
            await self.release.wait()
            return web.Response(status=503)
        if answer == "huge":
            return await self._stream(request)
        status, reply = answer
        payload = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        return web.Response(status=status, body=payload, content_type="application/json")

    async def _stream(self, request, *, declared=False):
        # 10 MB in 64 KB chunks, optionally announced by Content-Length; counts what it sent.
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declared:
            response.content_length = TEN_MB
        # A small fixed send buffer (no autotuning) keeps what the kernel absorbs far below
        # 10 MB, so "the server could not send it all" shows that the client hung up.
        sock = request.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CHUNK)
        await response.prepare(request)
        try:
            await response.write(b"[")
            while self.streamed < TEN_MB:
                await response.write(b"1," * (CHUNK // 2))
                self.streamed += CHUNK
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.stream_done.set()
        return response

    async def _slow(self, request, *, drip):
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            while drip and not self.release.is_set():
                await response.write(b" ")
                await asyncio.sleep(0.02)
            await self.release.wait()
        except ConnectionError:
            pass
        return response


@pytest.fixture
async def agent():
    server = await LoopbackAgent().start()
    yield server
    await server.stop()


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts the response body bytes the client actually reads."""

    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.bytes_read = 0

    async def handle_async_request(self, request):
        response = await self.inner.handle_async_request(request)
        response.stream = CountingStream(response.stream, self)
        return response

    async def aclose(self):
        await self.inner.aclose()


class CountingStream(httpx.AsyncByteStream):
    def __init__(self, inner, owner):
        self.inner, self.owner = inner, owner

    async def __aiter__(self):
        async for chunk in self.inner:
            self.owner.bytes_read += len(chunk)
            yield chunk

    async def aclose(self):
        await self.inner.aclose()


@pytest.fixture
def counting():
    return CountingTransport()


@pytest.fixture
async def client(counting):
    async with httpx.AsyncClient(transport=counting) as http:
        yield http


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ok(request, result):
    return 200, {"jsonrpc": "2.0", "id": request["id"], "result": result}


# --- cards ---------------------------------------------------------------------------------


async def test_fetch_a_valid_1_0_card(agent, client):
    card = await fetch_card(client, agent.url + "/", **LIMITS)
    assert card.name == "Contoso Test Agent"
    assert (card.rpc_url, card.protocol_version) == ("http://127.0.0.1:1/a2a", "1.0")
    assert card.skills[0].id == "s1" and card.skills[0].tags == ("t",)
    assert card.skills[0].examples == ("e",)
    assert card.raw["capabilities"] == {"streaming": False}


async def test_fall_back_to_the_older_well_known_path(agent, client):
    legacy = card_json(url="http://127.0.0.1:2/rpc", preferredTransport="JSONRPC")
    del legacy["supportedInterfaces"]
    agent.cards = {"/.well-known/agent.json": (200, json.dumps(legacy).encode())}
    card = await fetch_card(client, agent.url, **LIMITS)
    assert (card.rpc_url, card.protocol_version) == ("http://127.0.0.1:2/rpc", "0.3")


async def test_no_card_at_either_path(agent, client):
    agent.cards = {}
    with pytest.raises(A2AError) as raised:
        await fetch_card(client, agent.url, **LIMITS)
    assert (raised.value.kind, raised.value.http_status) == (A2AErrorKind.HTTP_STATUS, 404)


async def test_card_http_500(agent, client):
    agent.cards = {"/.well-known/agent-card.json": (500, b"<html>boom</html>")}
    with pytest.raises(A2AError) as raised:
        await fetch_card(client, agent.url, **LIMITS)
    assert raised.value.kind == A2AErrorKind.HTTP_STATUS
    assert "HTTP 500" in raised.value.message and "boom" in raised.value.reason
    assert "boom" not in raised.value.message  # what the agent said is for our logs only


async def test_card_that_is_not_json(agent, client):
    agent.cards = {"/.well-known/agent-card.json": (200, b"{'name': oops")}
    with pytest.raises(A2AError, match="is not valid JSON") as raised:
        await fetch_card(client, agent.url, **LIMITS)
    assert raised.value.kind == A2AErrorKind.INVALID_CARD


async def test_deeply_nested_json_is_rejected_not_crashed_on(agent, client):
    agent.cards = {"/.well-known/agent-card.json": (200, b"[" * 60_000)}
    with pytest.raises(A2AError) as raised:
        await fetch_card(client, agent.url, **LIMITS)
    assert raised.value.kind == A2AErrorKind.INVALID_CARD


async def test_an_invalid_card_over_http(agent, client):
    agent.cards = {"/.well-known/agent-card.json": (200, json.dumps(card_json(skills={})).encode())}
    with pytest.raises(A2AError, match="card field 'skills' must be a list"):
        await fetch_card(client, agent.url, **LIMITS)


def without(key):
    card = card_json()
    del card[key]
    return card


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ([], "the agent card must be a JSON object"),
        (without("name"), "card field 'name' must be a non-empty string (missing)"),
        (card_json(name=""), "card field 'name' must be a non-empty string"),
        (card_json(description=3), "card field 'description' must be a string"),
        (without("version"), "card field 'version' must be a non-empty string (missing)"),
        (without("skills"), "card field 'skills' must be a list (missing)"),
        (card_json(skills="all"), "card field 'skills' must be a list"),
        (card_json(skills=["s"]), "card field 'skills[0]' must be an object"),
        (
            card_json(skills=[{"name": "n", "description": "", "tags": []}]),
            "'skills[0].id' must be",
        ),
        (
            card_json(skills=[{"id": "i", "name": "n", "description": "", "tags": "t"}]),
            "card field 'skills[0].tags' must be a list",
        ),
        (
            card_json(skills=[{"id": "i", "name": "n", "description": "", "tags": [1]}]),
            "card field 'skills[0].tags' must be a list of strings",
        ),
        (
            card_json(
                skills=[{"id": "i", "name": "n", "description": "", "tags": [], "examples": "x"}]
            ),
            "card field 'skills[0].examples' must be a list",
        ),
        (card_json(supportedInterfaces={}), "card field 'supportedInterfaces' must be a list"),
        (
            card_json(supportedInterfaces=[{"url": "http://x/a2a", "protocolBinding": "JSONRPC"}]),
            "'supportedInterfaces[0].protocolVersion' must be a non-empty string",
        ),
        (
            card_json(
                supportedInterfaces=[
                    {"url": "ftp://x/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
                ]
            ),
            "card field 'supportedInterfaces[0].url' must be an http(s) URL",
        ),
        (
            card_json(
                supportedInterfaces=[
                    {"url": "http://x/g", "protocolBinding": "GRPC", "protocolVersion": "1.0"}
                ]
            ),
            "card has no JSON-RPC interface",
        ),
        (without("supportedInterfaces"), "card has no JSON-RPC interface"),
    ],
)
def test_card_validation_names_the_field(card, message):
    with pytest.raises(A2AError) as raised:
        parse_card(card)
    assert raised.value.kind == A2AErrorKind.INVALID_CARD
    assert message in raised.value.message


def test_interface_choice_prefers_1_0_jsonrpc():
    interfaces = [
        {"url": "http://h/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
        {"url": "http://h/old", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        {"url": "http://h/new", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
    ]
    assert parse_card(card_json(supportedInterfaces=interfaces)).rpc_url == "http://h/new"
    only_old = card_json(supportedInterfaces=interfaces[:2])
    assert (parse_card(only_old).rpc_url, parse_card(only_old).protocol_version) == (
        "http://h/old",
        "0.3",
    )


def test_a_0_3_card_with_jsonrpc_in_additional_interfaces():
    card = without("supportedInterfaces")
    card.update(
        url="http://h/grpc",
        preferredTransport="GRPC",
        additionalInterfaces=[{"url": "http://h/rpc", "transport": "JSONRPC"}],
    )
    assert (parse_card(card).rpc_url, parse_card(card).protocol_version) == ("http://h/rpc", "0.3")


async def test_a_10_mb_card_is_abandoned_early(agent, client, counting):
    agent.cards = {}
    with pytest.raises(A2AError) as raised:
        await fetch_card(client, f"{agent.url}/stream/chunked", **LIMITS)
    assert raised.value.kind == A2AErrorKind.TOO_LARGE
    # At most one network read past the cap was taken in, and the connection was dropped.
    assert counting.bytes_read <= LIMITS["max_bytes"] + CHUNK
    await asyncio.wait_for(agent.stream_done.wait(), 30)
    assert agent.streamed < TEN_MB, "the server was cut off before it sent the whole body"


async def test_a_declared_10_mb_card_is_refused_before_reading(agent, client, counting):
    with pytest.raises(A2AError) as raised:
        await fetch_card(client, f"{agent.url}/stream/declared", **LIMITS)
    assert raised.value.kind == A2AErrorKind.TOO_LARGE
    assert counting.bytes_read == 0
    await asyncio.wait_for(agent.stream_done.wait(), 30)
    assert agent.streamed < TEN_MB


async def test_card_timeout(agent, client):
    with pytest.raises(A2AError) as raised:
        await fetch_card(client, f"{agent.url}/slow", timeout=0.2, max_bytes=1024)
    assert raised.value.kind == A2AErrorKind.TIMEOUT
    assert raised.value.status == 503


async def test_the_timeout_bounds_the_whole_exchange_not_each_read(agent, client):
    # The server sends a byte every 20 ms: no single read waits long, the whole does.
    with pytest.raises(A2AError) as raised:
        await fetch_card(client, f"{agent.url}/drip", timeout=0.3, max_bytes=1024 * 1024)
    assert raised.value.kind == A2AErrorKind.TIMEOUT


async def test_card_connection_refused(client):
    with pytest.raises(A2AError) as raised:
        await fetch_card(client, f"http://127.0.0.1:{closed_port()}", **LIMITS)
    assert (raised.value.kind, raised.value.status) == (A2AErrorKind.CONNECTION, 503)


async def test_base_url_must_be_http(client):
    with pytest.raises(ValueError, match="not an http"):
        await fetch_card(client, "file:///etc/passwd", **LIMITS)


# --- send_message: requests ----------------------------------------------------------------


async def test_1_0_request_shape_and_headers(agent, client):
    agent.rpc = lambda r: ok(r, {"message": {"role": "ROLE_AGENT", "parts": [{"text": "hi"}]}})
    headers = {
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=1",
        "X-Correlation-Id": "corr-9",
        "Authorization": "Bearer user-token",
        "Cookie": "session=1",
    }
    await send_message(
        client,
        agent.card(),
        text="hello",
        data={"customerId": "CUST-0001"},
        task_id="t-1",
        context_id="c-1",
        headers=headers,
        **LIMITS,
    )
    sent_headers, body = agent.requests[0]
    assert sent_headers["A2A-Version"] == "1.0"
    assert sent_headers["Content-Type"] == "application/json"
    assert sent_headers["traceparent"] == TRACEPARENT
    assert sent_headers["tracestate"] == "vendor=1"
    assert sent_headers["x-correlation-id"] == "corr-9"
    assert "Authorization" not in sent_headers and "Cookie" not in sent_headers
    assert body["method"] == "SendMessage"
    message = body["params"]["message"]
    assert message["role"] == "ROLE_USER"
    assert message["parts"] == [
        {"text": "hello"},
        {"data": {"customerId": "CUST-0001"}, "mediaType": "application/json"},
    ]
    assert (message["taskId"], message["contextId"]) == ("t-1", "c-1")
    assert message["messageId"]
    assert body["params"]["configuration"]["returnImmediately"] is False


async def test_0_3_request_shape(agent, client):
    agent.rpc = lambda r: ok(r, {"kind": "message", "role": "agent", "parts": []})
    await send_message(client, agent.card("0.3"), text="hello", data={"a": 1}, **LIMITS)
    sent_headers, body = agent.requests[0]
    assert "A2A-Version" not in sent_headers
    assert body["method"] == "message/send"
    message = body["params"]["message"]
    assert (message["kind"], message["role"]) == ("message", "user")
    assert message["parts"] == [
        {"kind": "text", "text": "hello"},
        {"kind": "data", "data": {"a": 1}},
    ]
    assert "taskId" not in message and "contextId" not in message


def test_only_trace_headers_are_forwarded_and_a_bad_traceparent_is_dropped():
    assert forwarded_headers({"traceparent": "garbage", "X-Correlation-Id": "c"}) == {
        "x-correlation-id": "c"
    }
    assert forwarded_headers(None) == {}
    assert forwarded_headers({"x-correlation-id": "a\nb"}) == {}


async def test_text_or_data_is_required(agent, client):
    with pytest.raises(ValueError, match="needs text, data or both"):
        await send_message(client, agent.card(), **LIMITS)


# --- send_message: results -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire_state", "state"),
    [
        ("TASK_STATE_SUBMITTED", "submitted"),
        ("TASK_STATE_WORKING", "working"),
        ("TASK_STATE_INPUT_REQUIRED", "input-required"),
        ("TASK_STATE_COMPLETED", "completed"),
        ("TASK_STATE_FAILED", "failed"),
        ("TASK_STATE_CANCELED", "canceled"),
        ("TASK_STATE_REJECTED", "rejected"),
        ("TASK_STATE_AUTH_REQUIRED", "auth-required"),
        ("input-required", "input-required"),
        ("auth-required", "auth-required"),
        ("completed", "completed"),
        ("rejected", "rejected"),
    ],
)
async def test_task_states_map_to_our_names(agent, client, wire_state, state):
    task = {"id": "t", "contextId": "c", "status": {"state": wire_state}}
    agent.rpc = lambda r: ok(r, {"task": task})
    result = await send_message(client, agent.card(), text="x", **LIMITS)
    assert (result.state, result.task_id, result.context_id) == (state, "t", "c")
    assert (result.error is not None) == (state in ("failed", "rejected"))


async def test_a_task_joins_status_and_artifact_text_and_merges_data(agent, client):
    task = {
        "id": "t-1",
        "contextId": "c-1",
        "status": {
            "state": "TASK_STATE_COMPLETED",
            "message": {"role": "ROLE_AGENT", "parts": [{"text": "Done."}, {"data": {"a": 1.0}}]},
        },
        "artifacts": [
            {"artifactId": "x", "parts": [{"text": "Details."}, {"data": {"b": [2.0, 2.5]}}]},
            {"artifactId": "y", "parts": [{"data": {"a": 3.0, "nested": {"n": 4.0}}}]},
        ],
    }
    agent.rpc = lambda r: ok(r, {"task": task})
    result = await send_message(client, agent.card(), text="x", **LIMITS)
    assert result == A2AResult(
        state="completed",
        text="Done.\nDetails.",
        data={"a": 3, "b": [2, 2.5], "nested": {"n": 4}},
        task_id="t-1",
        context_id="c-1",
    )
    assert isinstance(result.data["a"], int)


async def test_a_direct_message_is_completed(agent, client):
    message = {"role": "ROLE_AGENT", "contextId": "c-2", "parts": [{"text": "a"}, {"text": "b"}]}
    agent.rpc = lambda r: ok(r, {"message": message})
    result = await send_message(client, agent.card(), text="x", **LIMITS)
    assert (result.state, result.text, result.data, result.context_id) == (
        "completed",
        "a\nb",
        {},
        "c-2",
    )
    assert result.task_id is None


async def test_0_3_task_and_message_results(agent, client):
    task = {
        "kind": "task",
        "id": "t",
        "contextId": "c",
        "status": {
            "state": "input-required",
            "message": {"kind": "message", "parts": [{"kind": "text", "text": "approve?"}]},
        },
    }
    agent.rpc = lambda r: ok(r, task)
    result = await send_message(client, agent.card("0.3"), text="x", **LIMITS)
    assert (result.state, result.text) == ("input-required", "approve?")
    agent.rpc = lambda r: ok(
        r, {"kind": "message", "parts": [{"kind": "data", "data": {"k": "v"}}]}
    )
    result = await send_message(client, agent.card("0.3"), text="x", **LIMITS)
    assert (result.state, result.data) == ("completed", {"k": "v"})


async def test_a_failed_task_carries_its_reason(agent, client):
    task = {
        "id": "t",
        "status": {
            "state": "TASK_STATE_FAILED",
            "message": {"parts": [{"text": "no such customer"}]},
        },
    }
    agent.rpc = lambda r: ok(r, {"task": task})
    result = await send_message(client, agent.card(), text="x", **LIMITS)
    assert (result.state, result.error) == ("failed", "no such customer")


# --- send_message: failures ----------------------------------------------------------------


async def test_timeout(agent, client):
    agent.rpc = lambda r: "hang"
    with pytest.raises(A2AError) as raised:
        await send_message(client, agent.card(), text="x", timeout=0.2, max_bytes=1024)
    assert (raised.value.kind, raised.value.status) == (A2AErrorKind.TIMEOUT, 503)
    assert "did not answer within 0.2 s" in raised.value.message


async def test_connection_refused(client):
    card = LoopbackAgent.card(type("Closed", (), {"url": f"http://127.0.0.1:{closed_port()}"})())
    with pytest.raises(A2AError) as raised:
        await send_message(client, card, text="x", **LIMITS)
    assert (raised.value.kind, raised.value.status) == (A2AErrorKind.CONNECTION, 503)
    assert "ConnectError" in raised.value.message


async def test_http_500_quotes_only_a_short_excerpt(agent, client):
    page = b"<html><body>Internal error " + b"x" * 5000 + b"SECRET-AT-THE-END</body></html>"
    agent.rpc = lambda r: (500, page)
    with pytest.raises(A2AError) as raised:
        await send_message(client, agent.card(), text="x", **LIMITS)
    error = raised.value
    assert (error.kind, error.http_status, error.status) == (A2AErrorKind.HTTP_STATUS, 500, 502)
    assert "Internal error" in error.reason and "Internal error" not in error.message
    assert "SECRET-AT-THE-END" not in error.reason
    assert len(error.reason) < EXCERPT_CHARS + 100


class FixedCredential:
    """A CredentialSource handing out one header (the card is what agentauth.py reads)."""

    def __init__(self, value):
        self.value = remember_secret(value)

    async def headers(self, card):
        return {"Authorization": f"Bearer {self.value}"}


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_credential_is_its_own_kind_and_never_quoted(agent, client, status):
    credential = FixedCredential("tok-" + "a" * 20)
    echo = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": credential.value}}
    agent.rpc = lambda r: (status, echo)
    with pytest.raises(A2AError) as raised:
        await send_message(client, agent.card(), text="x", credentials=credential, **LIMITS)
    error = raised.value
    assert (error.kind, error.http_status) == (A2AErrorKind.AUTH_REFUSED, status)
    assert credential.value not in error.message
    sent_headers, _body = agent.requests[0]
    assert sent_headers["Authorization"] == f"Bearer {credential.value}"


async def test_a_credential_echoed_in_an_error_is_redacted(agent, client):
    credential = FixedCredential("tok-" + "b" * 20)
    agent.rpc = lambda r: (
        200,
        {"jsonrpc": "2.0", "id": r["id"], "error": {"code": -1, "message": credential.value}},
    )
    with pytest.raises(A2AError) as raised:
        await send_message(client, agent.card(), text="x", credentials=credential, **LIMITS)
    assert credential.value not in raised.value.reason
    assert credential.value not in raised.value.rpc_message
    assert "[redacted]" in raised.value.reason


async def test_a_stable_message_id_and_metadata_are_sent(agent, client):
    agent.rpc = lambda r: ok(r, {"message": {"role": "ROLE_AGENT", "parts": [{"text": "hi"}]}})
    for version in ("1.0", "0.3"):
        await send_message(
            client,
            agent.card(version),
            text="x",
            message_id="step-1",
            metadata={"onBehalfOf": "abc"},
            **LIMITS,
        )
    for _headers, body in agent.requests:
        message = body["params"]["message"]
        assert (message["messageId"], message["metadata"]) == ("step-1", {"onBehalfOf": "abc"})


async def test_json_rpc_error_keeps_code_and_message(agent, client):
    agent.rpc = lambda r: (
        200,
        {"jsonrpc": "2.0", "id": r["id"], "error": {"code": -32602, "message": "bad params"}},
    )
    with pytest.raises(A2AError) as raised:
        await send_message(client, agent.card(), text="x", **LIMITS)
    error = raised.value
    assert (error.kind, error.rpc_code, error.rpc_message) == (
        A2AErrorKind.RPC_ERROR,
        -32602,
        "bad params",
    )
    assert "JSON-RPC error -32602: bad params" in error.reason


async def test_json_rpc_error_with_an_http_error_status(agent, client):
    agent.rpc = lambda r: (
        404,
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": "Task not found"}},
    )
    with pytest.raises(A2AError) as raised:
        await send_message(client, agent.card(), text="x", task_id="gone", **LIMITS)
    assert (raised.value.kind, raised.value.rpc_code, raised.value.http_status) == (
        A2AErrorKind.RPC_ERROR,
        -32001,
        404,
    )


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (lambda r: (200, b'{"jsonrpc": "2.0", "result": {"task": '), "no JSON-RPC 2.0 reply"),
        (lambda r: (200, {"hello": "world"}), "no JSON-RPC 2.0 reply"),
        (lambda r: (200, [1, 2]), "no JSON-RPC 2.0 reply"),
        (
            lambda r: (200, {"jsonrpc": "2.0", "id": "other", "result": {}}),
            "different JSON-RPC request id",
        ),
        (lambda r: (200, {"jsonrpc": "2.0", "id": r["id"]}), "no result"),
        (lambda r: ok(r, {"nothing": 1}), "neither a task nor a message"),
        (
            lambda r: ok(r, {"task": {"id": "t", "status": {"state": "BOILING"}}}),
            "unknown task state",
        ),
        (lambda r: ok(r, {"task": {"id": "t"}}), "unexpected result"),
        (lambda r: ok(r, {"message": {"parts": "text"}}), "no parts list"),
        (lambda r: ok(r, {"message": {"parts": ["text"]}}), "a part is not an object"),
        (
            lambda r: (
                200,
                {"jsonrpc": "2.0", "id": r["id"], "error": {"code": "x", "message": 1}},
            ),
            "no result",
        ),
    ],
)
async def test_malformed_replies(agent, client, reply, message):
    agent.rpc = reply
    with pytest.raises(A2AError) as raised:
        await send_message(client, agent.card(), text="x", **LIMITS)
    assert raised.value.kind == A2AErrorKind.MALFORMED
    assert message in raised.value.message


async def test_an_oversize_reply_is_abandoned(agent, client, counting):
    agent.rpc = lambda r: "huge"
    with pytest.raises(A2AError) as raised:
        await send_message(client, agent.card(), text="x", **LIMITS)
    assert raised.value.kind == A2AErrorKind.TOO_LARGE
    assert counting.bytes_read <= LIMITS["max_bytes"] + CHUNK
    await asyncio.wait_for(agent.stream_done.wait(), 30)
    assert agent.streamed < TEN_MB


def test_errors_are_upstream_unavailable_with_the_standard_body():
    error = A2AError(A2AErrorKind.MALFORMED, "agent 'x' sent no JSON-RPC 2.0 reply")
    assert isinstance(error, UpstreamUnavailable)
    assert error_body(error) == {
        "error": {
            "code": "upstream_unavailable",
            "message": "agent 'x' sent no JSON-RPC 2.0 reply",
            "retryable": True,
        }
    }
    assert A2AError(A2AErrorKind.TIMEOUT, "t").status == 503
    assert A2AError(A2AErrorKind.INVALID_CARD, "c").status == 502


@pytest.mark.parametrize(
    ("version", "text_part"),
    [("1.0", lambda text: {"text": text}), ("0.3", lambda text: {"kind": "text", "text": text})],
)
async def test_the_context_is_a_text_part_before_the_message(agent, client, version, text_part):
    agent.rpc = lambda r: ok(r, {"kind": "message", "role": "agent", "parts": []})

    await send_message(
        client, agent.card(version), text="And high tide?", context="Earlier: hello", **LIMITS
    )

    _, body = agent.requests[0]
    assert body["params"]["message"]["parts"] == [
        text_part("Earlier: hello"),
        text_part("And high tide?"),
    ]


@pytest.mark.parametrize(
    ("skills", "expected"),
    [
        ([{"id": "dispatch", "tags": ["dispatch", "human-in-loop"]}], True),
        ([{"id": "dispatch", "tags": ["human-in-the-loop"]}], True),
        ([{"id": "dispatch", "tags": ["dispatch"]}], False),
        ([{"id": "other", "tags": ["human-in-the-loop"]}, {"id": "dispatch"}], False),
        ([{"id": "dispatch"}], False),
        ([], False),
    ],
)
def test_a_skill_tagged_human_in_the_loop_asks_a_person(skills, expected):
    assert asks_a_person({"skills": skills}, "dispatch") is expected
    assert asks_a_person({"skills": [{"id": "hitl"}]}, "hitl")
