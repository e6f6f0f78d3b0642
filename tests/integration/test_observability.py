"""Observability through the real app on the devhost: the JSON log lines of HTTP calls and of a
delegation (the real sample agents, Azurite, the local Web PubSub), their correlation fields,
no secret in any line, the metrics and the one trace from the request to the agents."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.agents.identities import IDENTITIES
from tests.conftest import in_one_rate_window, remember_secret
from tests.system import LocalSystem, start_system, stop_system
from tests.unit.test_telemetry import InMemoryTelemetry, fake_jwt
from tests.unit.test_telemetry import in_memory_telemetry as in_memory_telemetry  # noqa: F401
from voicea2a.audit import pseudonym
from voicea2a.telemetry.logs import JsonFormatter
from voicea2a.telemetry.redaction import REDACTED
from voicea2a.telemetry.setup import reset

# The in-memory tracer and meter (use_providers) and the JSON line handler the app's telemetry
# adopts are set up in this process: the app must run here, whatever
# FUNCTIONS_WORKER_PROCESS_COUNT says.
pytestmark = [pytest.mark.azurite, pytest.mark.in_process_worker]

REQUIRED = {"time", "level", "logger", "message"}
# The agents' names in the registry (their cards), and in the sample agents' group.
AUTHENTICATION, AUTHENTICATION_SAMPLE = "contoso-authentication-agent", "authentication"
OUTAGE, OUTAGE_SAMPLE = "contoso-outage-check-agent", "outage-check"
AUTHENTICATION_CARD, OUTAGE_CARD = "Contoso Authentication Agent", "Contoso Outage Check Agent"


def traceparent() -> tuple[str, str]:
    """A browser's traceparent and its trace id."""
    trace_id = secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01", trace_id


class JsonLines:
    """Every log line of the process, as the app's setup formats them (LOG_FORMAT=json)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        # A plain console-like handler: the telemetry setup adopts it (its filter, its format).
        self.handler = logging.StreamHandler(self.buffer)
        self.offset = 0

    def mark(self) -> None:
        """Keep only what is logged from now on (once the app has set itself up)."""
        assert isinstance(self.handler.formatter, JsonFormatter)
        self.offset = len(self.buffer.getvalue())

    @property
    def text(self) -> str:
        return self.buffer.getvalue()[self.offset :]

    def entries(self) -> list[dict[str, Any]]:
        lines = self.text.splitlines()
        assert lines, "nothing was logged"
        entries = []
        for line in lines:
            entry = json.loads(line)  # every line is one JSON object
            assert set(entry) >= REQUIRED, line
            entries.append(entry)
        return entries

    def where(self, **fields: Any) -> list[dict[str, Any]]:
        return [e for e in self.entries() if all(e.get(k) == v for k, v in fields.items())]


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    """Capture from a fresh telemetry setup (the next invocation sets it up again)."""
    reset()
    lines = JsonLines()
    root = logging.getLogger()
    root.addHandler(lines.handler)
    yield lines
    root.removeHandler(lines.handler)
    reset()


@pytest.fixture
def system_factory(start_host, azurite, azurite_env, loop_thread, overrides, json_lines):
    """Starts the whole system logging JSON lines; the tests' lines start after start-up's."""
    started: list[LocalSystem] = []

    def start(with_agents: bool) -> LocalSystem:
        system = start_system(
            start_host,
            loop_thread,
            azurite_env,
            azurite.connection_string,
            settings={"LOG_FORMAT": "json", **overrides},
            with_agents=with_agents,
        )
        started.append(system)
        # The first invocation sets telemetry up (LOG_FORMAT=json): every line from then on
        # is JSON.
        assert system.app.http.get("/api/health").status_code == 200
        json_lines.mark()
        return system

    yield start
    for system in started:
        stop_system(system)


@pytest.fixture
def host(system_factory) -> LocalSystem:
    """The app on a devhost with the local Web PubSub, no agents."""
    return system_factory(with_agents=False)


@pytest.fixture
def network(system_factory) -> LocalSystem:
    """The app with the six sample agents registered (their fault knobs enabled)."""
    return system_factory(with_agents=True)


@pytest.mark.parametrize("overrides", [{"RATE_LIMIT_VOICE_TOKEN_PER_MINUTE": "2"}])
def test_http_calls_log_correlated_json_lines_metrics_spans_and_no_secret(
    host, json_lines, in_memory_telemetry: InMemoryTelemetry
):
    http = host.app.http
    user = "ada-" + secrets.token_hex(4)
    auth = host.headers(user)
    health_parent, health_trace = traceparent()
    health = http.get(
        "/api/health", headers={"x-correlation-id": "corr-health", "traceparent": health_parent}
    )
    me = http.get("/api/auth/me", headers={**auth, "x-correlation-id": "corr-me"})

    def negotiate(attempt: int) -> tuple[str, float, float, list[httpx.Response]]:
        """Three negotiations of one user, over the limit of two; that user, and the token
        and rejection counts before them."""
        caller = f"{user}-{attempt}"
        headers = host.headers(caller)
        issued = in_memory_telemetry.total("tokens.issued", kind="webpubsub")
        rejected = in_memory_telemetry.total("ratelimit.rejected", route="events-negotiate")
        responses = [
            http.post(
                "/api/events/negotiate",
                headers={**headers, "x-correlation-id": f"corr-neg-{attempt}-{i}"},
            )
            for i in range(3)
        ]
        return caller, issued, rejected, responses

    caller, issued_before, rejected_before, negotiated = in_one_rate_window(negotiate)
    # Token-shaped values where the app does log what it is given: a route id, a correlation id.
    secret_instance = remember_secret(fake_jwt())
    secret_correlation = remember_secret("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
    missing = http.get(
        f"/api/messages/{secret_instance}",
        headers={**auth, "x-correlation-id": secret_correlation},
    )

    assert health.headers["x-correlation-id"] == "corr-health"
    assert me.status_code == 200, me.text
    assert [r.status_code for r in negotiated] == [200, 200, 429]
    assert missing.status_code == 404
    for response in negotiated[:2]:
        url = remember_secret(response.json()["url"])
        remember_secret(parse_qs(urlsplit(url).query)["access_token"][0])

    entries = json_lines.entries()  # every line parses, with time, level, logger, message
    [request] = json_lines.where(correlationId="corr-health", event="http.request")
    assert request["route"] == "health" and request["status"] == 200
    assert request["traceId"] == health_trace
    [request] = json_lines.where(correlationId="corr-me", event="http.request")
    assert request["user"] == pseudonym(user)
    assert not [e for e in entries if e.get("user") in (user, caller)], "user ids are hidden"
    [rejected] = json_lines.where(event="ratelimit.rejected", user=pseudonym(caller))
    assert rejected["route"] == "events-negotiate"
    assert rejected["correlationId"] == negotiated[2].request.headers["x-correlation-id"]
    assert rejected["level"] == "WARNING"
    [not_found] = json_lines.where(event="http.request", route="get_message", status=404)
    assert not_found["instanceId"] == REDACTED
    assert not_found["correlationId"] == REDACTED

    from tests.conftest import SECRET_VALUES

    leaked = [value for value in SECRET_VALUES if value in json_lines.text]
    assert not leaked, "a secret reached a log line"

    issued = in_memory_telemetry.total("tokens.issued", kind="webpubsub")
    assert issued - issued_before == 2
    rejected = in_memory_telemetry.total("ratelimit.rejected", route="events-negotiate")
    assert rejected - rejected_before == 1
    [span] = [s for s in in_memory_telemetry.finished_spans() if s.name == "http health"]
    assert format(span.context.trace_id, "032x") == health_trace
    assert span.kind.name == "INTERNAL" and span.attributes["http.response.status_code"] == 200


def test_a_delegation_is_one_trace_with_correlated_lines_and_its_metrics(
    network, json_lines, in_memory_telemetry: InMemoryTelemetry
):
    http = network.app.http
    user = "grace-" + secrets.token_hex(4)
    faults = httpx.post(
        f"{network.agents.urls[OUTAGE_SAMPLE]}/_faults", json={"failFirst": 1}, timeout=10
    )
    assert faults.status_code == 200, faults.text
    negotiated = http.post("/api/events/negotiate", headers=network.headers(user))
    remember_secret(negotiated.json()["url"])
    in_memory_telemetry.spans.clear()

    parent, trace_id = traceparent()
    correlation_id = "corr-" + secrets.token_hex(6)
    call_id = "call-" + secrets.token_hex(4)
    first, last, postal, born = IDENTITIES["CUST-0001"]
    body = {
        "request": "My internet is down.",
        "symptoms": ["no_internet"],
        "callId": call_id,
        "customer": {
            "firstName": first,
            "lastName": last,
            "postalCode": postal,
            "dateOfBirth": born,
        },
    }
    response = http.post(
        "/api/messages",
        json=body,
        headers={
            **network.headers(user),
            "x-correlation-id": correlation_id,
            "traceparent": parent,
        },
    )
    assert response.status_code in (200, 202), response.text
    instance_id = response.json()["instanceId"]
    assert network.app.wait(instance_id).status == "Completed"

    # Logs: the HTTP request, the orchestrator (not replaying) and every activity, all on the
    # request's correlation id; the agents' lines carry it too.
    mine = json_lines.where(callId=call_id)
    assert {e["correlationId"] for e in mine} == {correlation_id}
    events = {e.get("event") for e in mine}
    assert {"http.request", "delegation.started", "delegation.planned"} <= events
    assert {"agent.call", "agent.retrying", "agent.outcome", "delegation.finished"} <= events
    [finished] = [e for e in mine if e.get("event") == "delegation.finished"]
    assert finished["outcome"] == "completed" and finished["durationMs"] > 0
    assert finished["instanceId"] == instance_id and finished["user"] == pseudonym(user)
    assert len([e for e in mine if e.get("event") == "delegation.started"]) == 1  # no replays
    loggers = {e["logger"] for e in mine}
    assert {"bindings", "orchestrations.delegation", "activities.specialists"} <= loggers
    agent_lines = json_lines.where(logger="agents.server", correlationId=correlation_id)
    assert agent_lines, "the agents log the forwarded correlation id"

    # Metrics.
    memory = in_memory_telemetry
    assert memory.total("delegation.duration", outcome="completed") == 1
    assert memory.total("agent.call.duration", agent=AUTHENTICATION, outcome="completed") == 1
    assert memory.total("agent.call.duration", agent=OUTAGE, outcome="rpc_error") == 1
    assert memory.total("agent.call.duration", agent=OUTAGE, outcome="completed") == 1
    assert memory.total("agent.call.retries", agent=OUTAGE) == 1
    assert memory.total("agent.call.retries", agent=AUTHENTICATION) == 0
    assert memory.total("events.published") >= 6
    assert memory.total("tokens.issued", kind="webpubsub") == 1

    # One trace: the HTTP request, each activity and each A2A call.
    spans = [s for s in memory.finished_spans() if format(s.context.trace_id, "032x") == trace_id]
    names = [s.name for s in spans]
    assert "http post_message" in names
    for activity in ("plan_delegation", "publish_events", "record_turn"):
        assert f"activity {activity}" in names
    calls = [e for e in mine if e.get("event") == "agent.call"]
    a2a_spans = [s for s in spans if s.name.startswith("A2A SendMessage ")]
    assert names.count("activity call_specialist") == len(a2a_spans) == len(calls) >= 3
    per_agent = Counter(s.attributes["a2a.agent"] for s in a2a_spans)
    assert per_agent.pop(OUTAGE_CARD) == 2 and per_agent.pop(AUTHENTICATION_CARD) == 1
    assert set(per_agent.values()) <= {1}  # the other agents of the plan: once each
    failed = [s for s in a2a_spans if s.status.status_code.name == "ERROR"]
    assert len(failed) == 1 and failed[0].attributes["error.type"] == "rpc_error"
    stray = [
        s.name
        for s in memory.finished_spans()
        if s.name.startswith(("activity ", "A2A")) and s not in spans
    ]
    assert not stray, f"spans of this delegation outside its trace: {stray}"

    # The agents received a traceparent of that trace, whose parent is our A2A call's span.
    a2a_span_ids = {format(s.context.span_id, "016x") for s in a2a_spans}
    received = [
        seen["traceparent"]
        for name in (AUTHENTICATION_SAMPLE, OUTAGE_SAMPLE)
        for seen in network.agents.agents[name].seen
        if seen["correlationId"] == correlation_id
    ]
    assert len(received) == 3
    for value in received:
        _, trace, parent_id, _ = value.split("-")
        assert trace == trace_id and parent_id in a2a_span_ids
