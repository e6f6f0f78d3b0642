"""voicea2a.telemetry: the JSON lines, the correlation context, redaction, the once-per-process
setup (configure_azure_monitor exactly once, only with a connection string), spans and metrics
with in-memory OpenTelemetry exporters."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.handlers
import os
import secrets
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace

from bindings import activity
from voicea2a import a2a, audit, config
from voicea2a.config import ConfigError, load_settings
from voicea2a.telemetry.context import bound, current_correlation_id, current_fields, log_fields
from voicea2a.telemetry.logs import FILTER, JsonFormatter, TelemetryFilter, TextFormatter
from voicea2a.telemetry.metrics import (
    record_agent_call,
    record_agent_retry,
    record_delegation,
    record_event_failed,
    record_event_published,
    record_rate_limited,
    record_token_issued,
)
from voicea2a.telemetry.redaction import REDACTED, redact
from voicea2a.telemetry.setup import (
    APP_LOGGERS,
    QUIET_UNDER_WORKER,
    ensure_setup,
    reset,
    use_providers,
)
from voicea2a.telemetry.spans import INSTRUMENTATION_NAME

ROOT = Path(__file__).resolve().parents[2]
CONNECTION_STRING = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
    "IngestionEndpoint=https://example.invalid/"
)


# ----- in-memory OpenTelemetry (also used by tests/integration/test_observability.py) -----


@dataclass
class InMemoryTelemetry:
    """The spans and metrics the app recorded while installed (see `in_memory_telemetry`)."""

    spans: Any  # InMemorySpanExporter
    reader: Any  # InMemoryMetricReader

    def finished_spans(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) of metric `name` (cumulative since installed)."""
        found = []
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes), p) for p in metric.data.data_points]
        return found

    def total(self, name: str, **attributes: str) -> float:
        """The sum of a counter, or the count of a histogram, over matching points."""
        total = 0.0
        for labels, point in self.points(name):
            if all(labels.get(key) == value for key, value in attributes.items()):
                total += getattr(point, "count", None) or getattr(point, "value", 0)
        return total


@pytest.fixture
def in_memory_telemetry() -> Iterator[InMemoryTelemetry]:
    """The app's tracer and meter replaced by SDK providers with in-memory exporters."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    use_providers(tracer_provider, meter_provider)
    yield InMemoryTelemetry(spans, reader)
    use_providers(None, None)
    tracer_provider.shutdown()
    meter_provider.shutdown()


# ----- helpers -----


def token_urlsafe(n: int = 24) -> str:
    return secrets.token_urlsafe(n).replace("-", "x").replace("_", "y")


def fake_jwt() -> str:
    # A real-looking JWS: base64url JSON header, payload, signature.
    return (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        f"eyJzdWIiOiJhZGEiLCJub25jZSI6I{token_urlsafe(12)}In0."
        f"{token_urlsafe(32)}"
    )


class Lines:
    """A handler like the root ones: the telemetry filter, then a formatter."""

    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setFormatter(formatter or logging.Formatter("%(message)s"))
        self.handler.addFilter(TelemetryFilter())

    def log(self, name: str, *args: Any, level: int = logging.INFO, **kwargs: Any) -> str:
        logger = logging.getLogger(name)
        logger.addHandler(self.handler)
        previous, logger.propagate = logger.propagate, False
        logger.setLevel(logging.DEBUG)
        try:
            logger.log(level, *args, **kwargs)
        finally:
            logger.removeHandler(self.handler)
            logger.propagate = previous
            logger.setLevel(logging.NOTSET)
        return self.text

    @property
    def text(self) -> str:
        return self.buffer.getvalue()


# ----- redaction -----

THIRD_PARTY = "azure.core.pipeline.policies.http_logging_policy"


def secret_shapes() -> list[tuple[str, str, str]]:
    """(id, log message, the secret in it)."""
    key = token_urlsafe(32) + "=="
    sig = "s%2Bx" + token_urlsafe(20) + "%3D"
    jwt = fake_jwt()
    bearer = token_urlsafe(40)
    return [
        ("bearer-header", f"Authorization: Bearer {bearer}", bearer),
        ("bearer-query", f"wss://voice.example/realtime?Authorization=Bearer%20{bearer}", bearer),
        ("jwt-alone", f"issued {jwt} to the browser", jwt),
        (
            "jwt-three-long-segments",
            f"ticket {token_urlsafe(18)}.{token_urlsafe(18)}.{key[:30]}",
            key[:30],
        ),
        (
            "storage-account-key",
            f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key};"
            "EndpointSuffix=core.windows.net",
            key,
        ),
        (
            "webpubsub-access-key",
            f"Endpoint=http://localhost:8080;AccessKey={key};Version=1.0;",
            key,
        ),
        (
            "shared-access-signature",
            f"BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b"
            f"&sig={sig}&se=2026-01-01",
            sig,
        ),
        ("sas-query", f"GET https://a.table.core.windows.net/t?sv=2022-11-02&sig={sig}&se=x", sig),
        ("api-key-header", f"headers: api-key: {key}", key),
        ("api-key-json", f'{{"api-key": "{key}", "region": "eastus2"}}', key),
        ("access-token-query", f"wss://wps.example/client/hubs/h?access_token={jwt}", jwt),
        ("access-token-plain", f"access_token={bearer}&expires=3600", bearer),
        ("basic-auth", f"Authorization: Basic {key}", key),
        ("storage-shared-key", f"authorization=SharedKey acct:{key}", key),
    ]


@pytest.mark.parametrize(
    "message, secret",
    [(m, s) for _, m, s in secret_shapes()],
    ids=[i for i, _, _ in secret_shapes()],
)
def test_each_secret_shape_is_redacted_from_a_third_party_logger(message, secret):
    text = Lines().log(THIRD_PARTY, message)
    assert secret not in text
    assert REDACTED in text


def test_secrets_in_arguments_exceptions_and_stacks_are_redacted():
    key = token_urlsafe(32)
    jwt = fake_jwt()
    lines = Lines(JsonFormatter())
    lines.log("urllib3.connectionpool", "sending %s with %r", f"Bearer {jwt}", {"AccountKey": key})
    try:
        raise ValueError(f"cannot connect with AccountKey={key};")
    except ValueError:
        lines.log("azure.identity", "failed", level=logging.ERROR, exc_info=True)
    lines.log("some.library", "where am I", stack_info=True, extra={"note": f"sig={key}"})
    assert key not in lines.text and jwt not in lines.text
    entries = [json.loads(line) for line in lines.text.splitlines()]
    assert "Bearer [REDACTED]" in entries[0]["message"]
    assert "AccountKey=[REDACTED]" in entries[1]["exception"]
    assert "ValueError" in entries[1]["exception"]


def test_a_redacted_exception_no_longer_carries_the_live_exception():
    key = token_urlsafe(32)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, None)
    try:
        raise RuntimeError(f"AccessKey={key}")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    TelemetryFilter().filter(record)
    assert record.exc_info is None and key not in record.exc_text
    # Any formatter now prints the redacted text.
    assert key not in logging.Formatter().format(record)


def test_an_exception_without_a_secret_is_kept_as_it_is():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, None)
    try:
        raise RuntimeError("hunter2")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    raised = record.exc_info[1]
    TelemetryFilter().filter(record)
    assert record.exc_info is not None and record.exc_info[1] is raised
    assert "RuntimeError: hunter2" in logging.Formatter().format(record)


def test_what_stays_readable_around_a_redaction():
    assert redact("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer [REDACTED]"
    assert redact("Authorization: Basic dXNlcjpw") == "Authorization: Basic [REDACTED]"
    assert (
        redact("Endpoint=http://h;AccessKey=k+/=;Version=1.0;")
        == "Endpoint=http://h;AccessKey=[REDACTED];Version=1.0;"
    )
    assert (
        redact("https://a/t?sv=2022-11-02&sig=a%2Bb&se=x")
        == "https://a/t?sv=2022-11-02&sig=[REDACTED]&se=x"
    )


@pytest.mark.parametrize(
    "text",
    [
        "call to agent contoso-outage-check-agent: completed in 12 ms (attempt 1)",
        "GET https://login.microsoftonline.com/tenant/v2.0/.well-known/openid-configuration",
        "design=blue; signature check passed; 3 requests per 60 s; version 1.8.11",
        "instance dlg-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d planned authentication then outage",
        "Endpoint=http://localhost:8080;Version=1.0;",
        "rate limited on voice-token: over 10 requests per 60 s",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


# ----- JSON lines and the correlation context -----


def test_a_json_line_has_the_required_and_bound_fields():
    lines = Lines(JsonFormatter())
    with bound(correlationId="corr-1", callId="call-1", user="ada@example.com"):
        lines.log("voicea2a.x", "hello\nworld", extra={"event": "x.happened", "durationMs": 1.5})
    lines.log("voicea2a.x", "outside")
    first, second = (json.loads(line) for line in lines.text.splitlines())
    assert first["message"] == "hello\nworld"  # one line: the newline is escaped
    assert first["level"] == "INFO" and first["logger"] == "voicea2a.x"
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert first["correlationId"] == "corr-1" and first["callId"] == "call-1"
    assert first["user"] == audit.pseudonym("ada@example.com")
    assert "ada@example.com" not in lines.text
    assert first["event"] == "x.happened" and first["durationMs"] == 1.5
    assert set(second) == {"time", "level", "logger", "message"}


def test_explicit_fields_win_over_the_context_and_unknown_ones_are_refused():
    lines = Lines(JsonFormatter())
    with bound(correlationId="from-context", agent="a"):
        lines.log("orchestrations.delegation", "x", extra=log_fields(correlationId="own"))
    entry = json.loads(lines.text)
    assert entry["correlationId"] == "own" and entry["agent"] == "a"
    with pytest.raises(ValueError, match="unknown log field"):
        log_fields(password="x")


def test_bound_fields_are_restored_and_isolated_per_task():
    assert current_correlation_id() is None

    async def handle(name: str) -> str | None:
        with bound(correlationId=name):
            await asyncio.sleep(0)  # the other task runs, inside its own bound() meanwhile
            return current_correlation_id()

    async def both() -> list[str | None]:
        return await asyncio.gather(handle("a"), handle("b"))

    assert asyncio.run(both()) == ["a", "b"]
    with bound(correlationId="outer"):
        with bound(callId="c"):
            assert current_fields() == {"correlationId": "outer", "callId": "c"}
        assert current_fields() == {"correlationId": "outer"}
    assert current_fields() == {}


def test_text_lines_are_readable():
    lines = Lines(TextFormatter())
    with bound(correlationId="corr-9", callId="call-9"):
        lines.log("api._http", "GET health -> 200 in 3 ms")
    line = lines.text.strip()
    assert "INFO    api._http: GET health -> 200 in 3 ms" in line
    assert line.endswith("[call=call-9 corr=corr-9]")


# ----- the setup -----


@pytest.fixture
def fresh_setup(app_env) -> Iterator[None]:
    """Telemetry not set up yet in this process; forgotten again afterwards."""
    reset()
    yield
    reset()
    for name in APP_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_setup_formats_console_lines_and_filters_every_root_handler(app_env, fresh_setup):
    app_env(LOG_FORMAT="text", LOG_LEVEL="WARNING")
    console = logging.StreamHandler(io.StringIO())
    own_format = logging.Formatter("%(name)s | %(message)s")
    capture = logging.handlers.MemoryHandler(100)
    capture.setFormatter(own_format)
    root = logging.getLogger()
    root.addHandler(console)
    try:
        ensure_setup()
        root.addHandler(capture)  # added after the setup: adopted at the next invocation
        ensure_setup()
        assert isinstance(console.formatter, TextFormatter)
        assert capture.formatter is own_format  # not a console: its format is its own
        assert FILTER in console.filters and FILTER in capture.filters
        assert logging.getLogger("voicea2a").level == logging.WARNING
        assert logging.getLogger("api").level == logging.WARNING
    finally:
        root.removeHandler(console)
        root.removeHandler(capture)
    reset()
    assert FILTER not in console.filters


def test_setup_defaults_to_json_lines(app_env, fresh_setup):
    app_env()
    console = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(console)
    try:
        ensure_setup()
        assert isinstance(console.formatter, JsonFormatter)
    finally:
        logging.getLogger().removeHandler(console)


def test_under_the_functions_worker_its_handler_gets_json_and_libraries_are_quieted(
    app_env, fresh_setup, monkeypatch
):
    app_env()
    worker = types.ModuleType("azure_functions_worker.dispatcher")

    class AsyncLoggingHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            self.format(record)

    AsyncLoggingHandler.__module__ = worker.__name__
    handler = AsyncLoggingHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    for name in QUIET_UNDER_WORKER:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    try:
        ensure_setup()
        assert isinstance(handler.formatter, JsonFormatter)
        assert FILTER in handler.filters
        assert logging.getLogger("azure").level == logging.WARNING
    finally:
        root.removeHandler(handler)


def test_log_settings_are_validated():
    base = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    assert load_settings(base).telemetry.log_format == "json"
    assert load_settings({**base, "LOG_LEVEL": "debug"}).telemetry.log_level == "DEBUG"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_settings({**base, "LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        load_settings({**base, "LOG_LEVEL": "loud"})
    # The authentication string is checked where it is first read (voicea2a/config.py).
    keyed = load_settings(
        {**base, "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=Key"}
    )
    with pytest.raises(ConfigError, match="APPLICATIONINSIGHTS_AUTHENTICATION_STRING"):
        keyed.telemetry.aad  # noqa: B018
    aad = load_settings(
        {**base, "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=abc;Authorization=AAD"}
    ).telemetry
    assert aad.aad and aad.aad_client_id == "abc"


@pytest.fixture
def distro(monkeypatch) -> list[dict[str, Any]]:
    """A stand-in azure.monitor.opentelemetry recording configure_azure_monitor calls."""
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("azure.monitor.opentelemetry")

    def configure_azure_monitor(**kwargs: Any) -> None:
        calls.append(kwargs)

    module.configure_azure_monitor = configure_azure_monitor
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", module)
    return calls


def test_configure_azure_monitor_is_called_exactly_once_with_a_connection_string(
    app_env, fresh_setup, distro
):
    app_env(APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION_STRING)
    threads = [threading.Thread(target=ensure_setup) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ensure_setup()
    [options] = distro
    assert options["connection_string"] == CONNECTION_STRING
    assert options["disable_logging"] is True  # logs go through the host, once
    assert options["instrumentation_options"]["httpx"] == {"enabled": False}
    assert "credential" not in options


def test_the_app_identity_exports_when_the_authentication_string_says_aad(
    app_env, fresh_setup, distro, monkeypatch
):
    import voicea2a.identity

    used = []
    monkeypatch.setattr(
        voicea2a.identity, "azure_credential", lambda client_id: used.append(client_id) or "cred"
    )
    app_env(
        APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION_STRING,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING="ClientId=11111111-aaaa;Authorization=AAD",
        AZURE_CLIENT_ID="22222222-bbbb",
    )
    ensure_setup()
    assert distro[0]["credential"] == "cred" and used == ["11111111-aaaa"]


def test_never_configured_without_a_connection_string(app_env, fresh_setup, distro):
    app_env(OTEL_TRACES_EXPORTER="")
    ensure_setup()
    ensure_setup()
    assert distro == []


def test_not_configured_twice_when_the_worker_already_did(
    app_env, fresh_setup, distro, monkeypatch
):
    from opentelemetry.sdk.trace import TracerProvider

    monkeypatch.setattr(trace, "get_tracer_provider", lambda: TracerProvider())
    app_env(APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION_STRING)
    ensure_setup()
    assert distro == []


def test_a_failing_configure_never_fails_the_invocation(app_env, fresh_setup, monkeypatch, caplog):
    module = types.ModuleType("azure.monitor.opentelemetry")

    def broken(**_: Any) -> None:
        raise RuntimeError(f"bad connection string {CONNECTION_STRING}")

    module.configure_azure_monitor = broken
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", module)
    app_env(APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION_STRING)
    with caplog.at_level(logging.WARNING, logger="voicea2a.telemetry"):
        ensure_setup()
    [record] = [r for r in caplog.records if r.name == "voicea2a.telemetry.setup"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "telemetry export is off: its setup failed (RuntimeError)"
    # The exception's text (here a connection string) is not in the line, nor its traceback.
    assert record.exc_info is None and CONNECTION_STRING not in caplog.text


def test_console_spans_without_a_connection_string(app_env, fresh_setup, distro, monkeypatch):
    installed = []
    monkeypatch.setattr(trace, "set_tracer_provider", installed.append)
    app_env(OTEL_TRACES_EXPORTER="console")
    ensure_setup()
    assert distro == []
    [provider] = installed
    exporters = [p.span_exporter for p in provider._active_span_processor._span_processors]
    assert type(exporters[0]).__name__ == "ConsoleSpanExporter"
    provider.shutdown()


def test_importing_the_app_with_a_connection_string_imports_no_telemetry_sdk():
    code = (
        "import sys, function_app\n"
        "print(sorted(m for m in sys.modules if m.startswith(('azure.monitor', "
        "'opentelemetry.sdk', 'opentelemetry.instrumentation'))))\n"
    )
    env = {
        **os.environ,
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION_STRING,
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.strip() == "[]"


# ----- spans and metrics -----

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_an_activity_continues_the_inputs_trace_and_binds_its_fields(in_memory_telemetry):
    seen = {}

    @activity
    def compose(turn: dict[str, Any]) -> str:
        seen.update(current_fields())
        return "ok"

    payload = {
        "traceparent": TRACEPARENT,
        "correlationId": "corr-7",
        "callId": "call-7",
        "instanceId": "dlg-7",
        "user": "ada",
    }
    assert compose(payload) == "ok"
    assert compose.__name__ == "compose"
    assert seen == {
        "correlationId": "corr-7",
        "callId": "call-7",
        "instanceId": "dlg-7",
        "user": audit.pseudonym("ada"),
    }
    [span] = in_memory_telemetry.finished_spans()
    assert span.name == "activity compose"
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert current_fields() == {}


async def test_a_failing_async_activity_marks_its_span_without_the_secret(in_memory_telemetry):
    key = token_urlsafe(32)

    @activity
    async def publish(batch: dict[str, Any]) -> None:
        raise RuntimeError(f"AccountKey={key}")

    with pytest.raises(RuntimeError):
        await publish({"traceparent": TRACEPARENT})
    [span] = in_memory_telemetry.finished_spans()
    assert span.status.status_code.name == "ERROR"
    [event] = span.events
    assert event.name == "exception" and key not in event.attributes["exception.message"]


async def test_the_a2a_span_is_the_traceparent_the_agent_receives(in_memory_telemetry):
    received = {}

    def agent(request: httpx.Request) -> httpx.Response:
        received.update(request.headers)
        body = json.loads(request.content)
        result = {"message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "hi"}]}}
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": result})

    card = a2a.parse_card(
        {
            "name": "contoso-outage-check-agent",
            "description": "",
            "version": "1.0.0",
            "skills": [],
            "supportedInterfaces": [
                {
                    "url": "http://agent.test/a2a",
                    "protocolBinding": "JSONRPC",
                    "protocolVersion": "1.0",
                }
            ],
        }
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(agent)) as client:
        result = await a2a.send_message(
            client,
            card,
            text="hello",
            timeout=5,
            max_bytes=10_000,
            headers={"traceparent": TRACEPARENT, "x-correlation-id": "corr-1"},
        )
    assert result.text == "hi"
    [span] = in_memory_telemetry.finished_spans()
    assert span.name == "A2A SendMessage contoso-outage-check-agent"
    assert span.kind.name == "CLIENT" and span.attributes["a2a.task.state"] == "completed"
    assert format(span.context.trace_id, "032x") == TRACE_ID
    span_id = format(span.context.span_id, "016x")
    assert received["traceparent"] == f"00-{TRACE_ID}-{span_id}-01"
    assert received["x-correlation-id"] == "corr-1"


async def test_without_an_sdk_the_callers_traceparent_is_forwarded_unchanged():
    use_providers(None, None)
    received = {}

    def agent(request: httpx.Request) -> httpx.Response:
        received.update(request.headers)
        return httpx.Response(503)

    card = a2a.parse_card(
        {
            "name": "x",
            "description": "",
            "version": "1",
            "skills": [],
            "url": "http://agent.test/a2a",
        }
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(agent)) as client:
        with pytest.raises(a2a.A2AError):
            await a2a.send_message(
                client,
                card,
                text="hi",
                timeout=5,
                max_bytes=1000,
                headers={"traceparent": TRACEPARENT},
            )
    assert received["traceparent"] == TRACEPARENT


def test_every_metric_is_on_the_one_meter(in_memory_telemetry):
    record_delegation(1234.5, "completed")
    record_delegation(-1, "failed")  # a clock step never records a negative time
    record_agent_call("a", "completed", 12.0)
    record_agent_call("a", "rpc_error", 3.0)
    record_agent_retry("a")
    record_token_issued("voice")
    record_rate_limited("voice-token")
    record_event_published("message")
    record_event_failed("message")
    memory = in_memory_telemetry
    assert memory.total("delegation.duration", outcome="completed") == 1
    [failed] = [
        p for labels, p in memory.points("delegation.duration") if labels["outcome"] == "failed"
    ]
    assert failed.count == 1 and failed.sum == 0
    assert memory.total("agent.call.duration", agent="a") == 2
    assert memory.total("agent.call.retries", agent="a") == 1
    assert memory.total("tokens.issued", kind="voice") == 1
    assert memory.total("ratelimit.rejected", route="voice-token") == 1
    assert memory.total("events.published", type="message") == 1
    assert memory.total("events.failed", type="message") == 1
    scopes = {
        scope.scope.name
        for resource in memory.reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
    }
    assert scopes == {INSTRUMENTATION_NAME}
    units = {
        metric.name: metric.unit
        for resource in memory.reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert units["delegation.duration"] == "ms" and units["agent.call.duration"] == "ms"


def test_the_settings_registry_knows_the_telemetry_settings():
    for name in ("OTEL_TRACES_EXPORTER", "LOG_LEVEL", "LOG_FORMAT"):
        assert name in config.SETTING_NAMES


def test_every_activity_input_carries_the_delegations_trace():
    from orchestrations.steps import trace_fields

    context = types.SimpleNamespace(instance_id="dlg-0123")
    job = {"user": "ada", "conversationId": "c", "callId": "k", "correlationId": "corr"}
    fields = trace_fields(context, {**job, "traceparent": TRACEPARENT})
    assert fields == {**job, "traceparent": TRACEPARENT, "instanceId": "dlg-0123"}
    # No traceparent came with the request: one derived from the instance id, the same on
    # every replay, still makes the delegation one trace.
    derived = trace_fields(context, job)["traceparent"]
    assert derived == trace_fields(context, job)["traceparent"]
    assert a2a.forwarded_headers({"traceparent": derived}) == {"traceparent": derived}
    assert (
        derived != trace_fields(types.SimpleNamespace(instance_id="dlg-4567"), job)["traceparent"]
    )
