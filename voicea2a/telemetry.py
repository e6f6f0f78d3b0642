"""Logs, traces and metrics: the app's one telemetry setup (docs/operations.md explains its use).

Logs
----
Each log line is one JSON object (`LOG_FORMAT=json`, the default): `time, level, logger,
message`, plus `correlationId, conversationId, callId, instanceId, agent, user` when known (the
user id only as `audit.pseudonym`), `traceId`/`spanId` inside a span, and a few structured
fields such as `event` and `durationMs`. `LOG_FORMAT=text` gives readable console lines locally.

The correlation fields live in one contextvar, owned here: HTTP functions bind it
(`api/_http.http_endpoint`), activities bind it from their input (`activity`). An orchestrator
has no context of its own that survives replays, so it passes the fields explicitly from its
input (`extra=log_fields(...)`) and logs only when not replaying.

Setup happens once per process, lazily, at the first invocation (`ensure_setup()`: called by
`http_endpoint`, by `activity` and by the orchestrator), never at import: importing the app must
stay cheap (bench/cold_start.py). The Functions Python worker owns the root logger: its handler
ships every record to the host, which forwards it to Application Insights (`traces`, filtered and
sampled by host.json). That handler is never removed or replaced. We add our `TelemetryFilter`
(correlation fields + redaction) to every root handler, so third-party loggers are covered too,
and our formatter to the handlers whose lines a person or the host reads: the worker's handler
and plain console `StreamHandler`s (the devhost's). Other handlers (files, test capture) keep
their format. Root handlers added later are adopted at the next invocation.

Traces and metrics
------------------
With `APPLICATIONINSIGHTS_CONNECTION_STRING`, `configure_azure_monitor` is called once, on that
first invocation (its import costs ~300 ms: never at cold start), with the app's identity when
`APPLICATIONINSIGHTS_AUTHENTICATION_STRING` says `Authorization=AAD`. It exports spans and
metrics only: logs already reach Application Insights through the host, and exporting them a
second time would duplicate every line. Without a connection string nothing is exported, or
spans are printed with `OTEL_TRACES_EXPORTER=console`.

Spans: one per HTTP function (`http_endpoint`), per activity (`activity`) and per A2A call
(voicea2a/a2a.py), continuing the W3C `traceparent` the request or the orchestration input
carried. Metrics: the instruments of the one meter `voicea2a` (`record_*` below).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import logging
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from voicea2a.audit import pseudonym
from voicea2a.config import ConfigError, TelemetrySettings, get_settings

log = logging.getLogger(__name__)

INSTRUMENTATION_NAME = "voicea2a"
# The correlation fields of every log line, in this order.
FIELDS = ("correlationId", "conversationId", "callId", "instanceId", "agent", "user")
# Structured fields a record may carry through `extra=`; anything else in `extra` is not shown.
EXTRA_FIELDS = ("event", "route", "status", "outcome", "durationMs", "attempt", "kind")
# The app's own loggers, which LOG_LEVEL applies to.
APP_LOGGERS = ("api", "activities", "orchestrations", "jobs", "voicea2a")
# Libraries whose per-request INFO lines are noise in Application Insights.
QUIET_UNDER_WORKER = ("azure", "httpx", "aiohttp.access", "urllib3")
# Where the Functions Python worker's logging handler lives (worker versions differ).
WORKER_MODULES = frozenset(
    {
        "azure_functions_worker",
        "azure_functions_runtime",
        "azure_functions_runtime_v1",
        "proxy_worker",
    }
)
MAX_FIELD_CHARS = 200

# --- correlation context ----------------------------------------------------------------------

_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "voicea2a_log_context", default=MappingProxyType({})
)


def log_fields(**fields: Any) -> dict[str, str]:
    """The correlation fields given, cleaned (empty ones dropped, `user` pseudonymised): pass
    them as `extra=` where no context is bound (the orchestrator)."""
    cleaned: dict[str, str] = {}
    for name, value in fields.items():
        if name not in FIELDS:
            raise ValueError(f"unknown log field {name!r}; known: {', '.join(FIELDS)}")
        if value is None or value == "":
            continue
        text = str(value)
        cleaned[name] = pseudonym(text) if name == "user" else text[:MAX_FIELD_CHARS]
    return cleaned


def bind(**fields: Any) -> contextvars.Token:
    """Add correlation fields to the current context; `unbind(token)` restores the previous."""
    return _context.set({**_context.get(), **log_fields(**fields)})


def unbind(token: contextvars.Token) -> None:
    """Undo a `bind`."""
    _context.reset(token)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Correlation fields for the duration of the block."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def current_fields() -> dict[str, str]:
    """The correlation fields bound in the current context."""
    return dict(_context.get())


def current_correlation_id() -> str | None:
    """The correlation id of the request or activity being handled, if any."""
    return _context.get().get("correlationId")


# --- redaction --------------------------------------------------------------------------------

REDACTED = "[REDACTED]"
_CREDENTIAL_NAMES = (
    r"AccountKey|AccessKey|SharedAccessKey|sig|api[-_]?key|access_token|refresh_token|id_token"
    r"|client_secret|x-functions-key|password"
)


@functools.cache
def _redactions() -> tuple[tuple[re.Pattern[str], str], ...]:
    # Compiled on first use: a few milliseconds that cold start does not need to pay.
    return (
        # `Bearer <token>`, also URL-encoded (`Bearer%20…`, `Bearer+…`).
        (re.compile(r"(?i)\b(bearer)(\s+|%20|\+)[A-Za-z0-9\-._~+/]+=*"), rf"\1\2{REDACTED}"),
        # A JWT: three base64url segments, the first a JSON header (`eyJ…`); the signature may be
        # empty.
        (re.compile(r"\bey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), REDACTED),
        # Any other three long base64url segments (JWE-like tokens, signed tickets).
        (
            re.compile(
                r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"
            ),
            REDACTED,
        ),
        # A SAS in a connection string runs to the next `;` (it holds `&` and `=`).
        (re.compile(r"(?i)\b(SharedAccessSignature\s*[=:]\s*)[^;\s\"'<>]+"), rf"\1{REDACTED}"),
        # name=value, name: value, "name": "value" for credential names (query strings, connection
        # strings, headers, JSON).
        (
            re.compile(
                rf"(?i)\b({_CREDENTIAL_NAMES})([\"']?\s*[=:]\s*[\"']?)(?!\[REDACTED\])[^;&,\s\"'<>]+"
            ),
            rf"\1\2{REDACTED}",
        ),
        # An Authorization header or query parameter with another scheme (Basic, SharedKey, ...).
        (
            re.compile(
                r"(?i)\b(authorization[\"']?\s*[=:]\s*[\"']?)(?!bearer(?:\s|%20|\+))"
                r"((?:[A-Za-z-]+(?:\s+|%20))?)(?!\[REDACTED\])[^\s\"',;&<>]+"
            ),
            rf"\1\2{REDACTED}",
        ),
    )


def redact(text: str) -> str:
    """`text` with anything shaped like a credential replaced by [REDACTED]."""
    for pattern, replacement in _redactions():
        text = pattern.sub(replacement, text)
    return text


_plain = logging.Formatter()


class TelemetryFilter(logging.Filter):
    """Attached to the root handlers: stamps the correlation fields (and the current trace) on
    each record, and redacts its message, exception and stack text. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp and redact `record` once (the first handler's filter does it for all)."""
        if getattr(record, "_voicea2a", False):
            return True
        record._voicea2a = True
        for name, value in _context.get().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        context = trace.get_current_span().get_span_context()
        if context.is_valid and getattr(record, "traceId", None) is None:
            record.traceId = format(context.trace_id, "032x")
            record.spanId = format(context.span_id, "016x")
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it itself
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = _plain.formatException(record.exc_info)
    if record.exc_text:
        cleaned = redact(record.exc_text)
        if cleaned != record.exc_text:
            # Formatters print exc_text when it is set; the live exception would print the
            # secret again, so it goes.
            record.exc_text, record.exc_info = cleaned, None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the known fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (newlines in the message are escaped)."""
        entry: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in (*FIELDS, "traceId", "spanId", *EXTRA_FIELDS):
            value = getattr(record, name, None)
            if value is not None and value != "":
                # Ids can come from a request (a header, a route): they are redacted too.
                entry[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    """Readable console lines: `12:00:01 INFO    api._http: message [callId=… corr=…]`."""

    TAGS = (("callId", "call"), ("agent", "agent"), ("correlationId", "corr"))

    def format(self, record: logging.LogRecord) -> str:
        """The record as a short line (plus the exception, if any)."""
        clock = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{clock} {record.levelname:<7} {record.name}: {redact(record.getMessage())}"
        tags = [
            f"{tag}={redact(str(getattr(record, name)))}"
            for name, tag in self.TAGS
            if getattr(record, name, None)
        ]
        if tags:
            line += f"  [{' '.join(tags)}]"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + redact(record.exc_text)
        return line


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of LOG_FORMAT `json` or `text`."""
    return TextFormatter() if log_format == "text" else JsonFormatter()


# --- the once-per-process setup ---------------------------------------------------------------

FILTER = TelemetryFilter()
_lock = threading.RLock()
_configured = False
_formatter: logging.Formatter = JsonFormatter()
_adopted: weakref.WeakSet[logging.Handler] = weakref.WeakSet()


def ensure_setup() -> None:
    """Set logging and OpenTelemetry up on the first call in this process; on every later call,
    adopt any root handler added since (a dictionary lookup per handler)."""
    global _configured
    if not _configured:
        with _lock:
            if not _configured:
                try:
                    settings = get_settings().telemetry
                except ConfigError:  # the app refuses to start on it; nothing to set up here
                    settings = TelemetrySettings()
                _setup_logging(settings)
                _setup_opentelemetry(settings)
                _configured = True
    _adopt_root_handlers()


def reset() -> None:
    """Forget the setup: our filter leaves the handlers (tests)."""
    global _configured
    with _lock:
        for handler in list(_adopted):
            handler.removeFilter(FILTER)
        _adopted.clear()
        _configured = False
        use_providers(None, None)


def _is_worker_handler(handler: logging.Handler) -> bool:
    return type(handler).__module__.split(".")[0] in WORKER_MODULES


def _writes_lines(handler: logging.Handler) -> bool:
    # The worker's handler (lines to the host) and plain console handlers; subclasses such as
    # file or test-capture handlers keep their own format.
    return _is_worker_handler(handler) or type(handler) is logging.StreamHandler


def _setup_logging(settings: TelemetrySettings) -> None:
    global _formatter
    _formatter = formatter_for(settings.log_format)
    root = logging.getLogger()
    if not root.handlers:  # a bare process: no worker, no devhost, no test runner
        root.addHandler(logging.StreamHandler(sys.stderr))
        if root.level > logging.INFO:  # the root's WARNING default would hide the app's INFO
            root.setLevel(logging.INFO)
    if settings.log_level:
        for name in APP_LOGGERS:
            logging.getLogger(name).setLevel(settings.log_level)
    if any(_is_worker_handler(handler) for handler in root.handlers):
        for name in QUIET_UNDER_WORKER:
            noisy = logging.getLogger(name)
            if noisy.level == logging.NOTSET:
                noisy.setLevel(logging.WARNING)


def _adopt_root_handlers() -> None:
    for handler in logging.getLogger().handlers:
        if handler in _adopted:
            continue
        with _lock:
            _adopted.add(handler)
            handler.addFilter(FILTER)
            if _writes_lines(handler):
                handler.setFormatter(_formatter)


def _sdk_already_configured() -> bool:
    # The worker configures the distro itself with PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY;
    # a second configure_azure_monitor would export everything twice.
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _setup_opentelemetry(settings: TelemetrySettings) -> None:
    try:
        if settings.connection_string:
            if _sdk_already_configured():
                log.info("OpenTelemetry was already configured in this process; using it")
                return
            _configure_azure_monitor(settings)
        elif settings.traces_exporter == "console":
            _configure_console_traces()
    except Exception as exc:  # telemetry must never fail an invocation
        log.warning("telemetry export is off: its setup failed (%s)", type(exc).__name__)


def _configure_azure_monitor(settings: TelemetrySettings) -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor

    options: dict[str, Any] = {
        "connection_string": settings.connection_string,
        # Logs reach Application Insights through the worker and the host (host.json decides
        # levels and sampling there); exporting them here too would duplicate every line.
        "disable_logging": True,
        # Our A2A span is the dependency, and the traceparent agents receive; the transport
        # instrumentations would add a second span per call. Azure SDK calls keep theirs.
        "instrumentation_options": {
            name: {"enabled": False} for name in ("httpx", "requests", "urllib", "urllib3")
        },
    }
    if settings.aad:
        from voicea2a.identity import azure_credential

        client_id = settings.aad_client_id or get_settings().managed_identity_client_id
        options["credential"] = azure_credential(client_id)
    configure_azure_monitor(**options)
    log.info("OpenTelemetry exports spans and metrics to Application Insights")


def _configure_console_traces() -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": INSTRUMENTATION_NAME}))
    provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


# --- spans ------------------------------------------------------------------------------------

_PROPAGATOR = TraceContextTextMapPropagator()
_tracer_provider: Any = None
_meter_provider: Any = None
_tracer_cache: tuple[Any, Any] | None = None


def use_providers(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Use these providers instead of the global ones (None: the global ones again). For tests
    with in-memory exporters; OpenTelemetry's global providers can be set only once."""
    global _tracer_provider, _meter_provider, _tracer_cache, _instruments
    _tracer_provider, _meter_provider = tracer_provider, meter_provider
    _tracer_cache, _instruments = None, None


def tracer() -> trace.Tracer:
    """The app's tracer."""
    global _tracer_cache
    provider = _tracer_provider or trace.get_tracer_provider()
    cached = _tracer_cache
    if cached is None or cached[0] is not provider:
        cached = (provider, provider.get_tracer(INSTRUMENTATION_NAME))
        _tracer_cache = cached
    return cached[1]


def _parent(traceparent: str | None) -> Any:
    # A parent the platform already set (the worker attaches the host's trace context when it
    # runs OpenTelemetry) wins; otherwise we continue the trace we were handed.
    if not traceparent or trace.get_current_span().get_span_context().is_valid:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    traceparent: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A current span for the block, continuing `traceparent` when no span is current. An
    exception marks it failed (its message redacted) and propagates."""
    with tracer().start_as_current_span(
        name,
        context=_parent(traceparent),
        kind=kind,
        attributes=dict(attributes or {}),
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except Exception as exc:
            mark_failed(current, exc)
            raise


def mark_failed(target: trace.Span, exc: BaseException | str) -> None:
    """Set `target`'s status to error and record the exception (message redacted)."""
    if isinstance(exc, BaseException):
        kind = type(exc).__qualname__
        target.add_event(
            "exception",
            {"exception.type": kind, "exception.message": redact(str(exc))[:1000]},
        )
    else:
        kind = exc
    target.set_status(Status(StatusCode.ERROR, kind))


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span (to forward), if there is a valid one."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


# --- activities -------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def _payload(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapping[str, Any]:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Mapping):
            return value
    return {}


@contextlib.contextmanager
def _activity_scope(name: str, payload: Mapping[str, Any]) -> Iterator[None]:
    ensure_setup()
    fields = {key: payload.get(key) for key in FIELDS if isinstance(payload.get(key), str)}
    traceparent = payload.get("traceparent")
    started = time.perf_counter()
    with (
        bound(**fields),
        span(
            f"activity {name}",
            traceparent=traceparent if isinstance(traceparent, str) else None,
            attributes={"faas.name": name, "voicea2a.activity": name},
        ),
    ):
        try:
            yield
        except Exception as exc:
            log.warning(
                "activity %s failed after %.0f ms: %s",
                name,
                (time.perf_counter() - started) * 1000,
                type(exc).__name__,
                extra={"event": "activity.failed", "outcome": type(exc).__name__},
            )
            raise


def activity(fn: F) -> F:
    """Wrap an activity function (sync or async): ensure the setup, bind the correlation fields
    its input carries (`correlationId, conversationId, callId, instanceId, agent, user`) and run
    it in a span continuing the input's `traceparent`. Put it under `@bp.activity_trigger`."""
    name = fn.__name__
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with _activity_scope(name, _payload(args, kwargs)):
                return await fn(*args, **kwargs)

        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _activity_scope(name, _payload(args, kwargs)):
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]


# --- metrics ----------------------------------------------------------------------------------


class Instruments:
    """The app's instruments, all on the one meter `voicea2a` (docs/operations.md: Metrics)."""

    def __init__(self, meter: Any) -> None:
        self.delegation_duration = meter.create_histogram(
            "delegation.duration",
            unit="ms",
            description="Time from POST /api/messages to the composed answer, by outcome",
            explicit_bucket_boundaries_advisory=(
                250, 500, 1000, 2000, 4000, 8000, 15000, 30000, 60000, 300000, 900000,
            ),
        )  # fmt: skip
        self.agent_call_duration = meter.create_histogram(
            "agent.call.duration",
            unit="ms",
            description="One A2A call to a specialist agent, by agent and outcome",
            explicit_bucket_boundaries_advisory=(
                25, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 15000,
            ),
        )  # fmt: skip
        self.agent_call_retries = meter.create_counter(
            "agent.call.retries", unit="{retry}", description="Repeated A2A calls, by agent"
        )
        self.tokens_issued = meter.create_counter(
            "tokens.issued", unit="{token}", description="Tokens handed out, by kind"
        )
        self.ratelimit_rejected = meter.create_counter(
            "ratelimit.rejected", unit="{request}", description="Requests refused 429, by route"
        )
        self.events_published = meter.create_counter(
            "events.published", unit="{event}", description="Events sent to Web PubSub, by type"
        )
        self.events_failed = meter.create_counter(
            "events.failed",
            unit="{event}",
            description="Events dropped (Web PubSub failed twice, or the batch ran out of time), "
            "by type",
        )
        self.history_pending = meter.create_counter(
            "history.pending",
            unit="{turn}",
            description="Turns the history could not take within HISTORY_RETRY_MINUTES "
            "(left for the reconciliation job)",
        )
        self.history_reconciled = meter.create_counter(
            "history.reconciled",
            unit="{turn}",
            description="Pending turns the reconciliation job wrote to the history",
        )


_instruments: Instruments | None = None


def instruments() -> Instruments:
    """The instruments (created on first use, from the current meter provider)."""
    global _instruments
    current = _instruments
    if current is None:
        with _lock:
            if _instruments is None:
                from opentelemetry import metrics

                provider = _meter_provider or metrics.get_meter_provider()
                _instruments = Instruments(provider.get_meter(INSTRUMENTATION_NAME))
            current = _instruments
    return current


def record_delegation(duration_ms: float, outcome: str) -> None:
    """A delegation ended: `completed`, `partial` (an agent failed or timed out) or `failed`."""
    instruments().delegation_duration.record(max(duration_ms, 0.0), {"outcome": outcome})


def record_agent_call(agent: str, outcome: str, duration_ms: float) -> None:
    """One A2A call ended: the agent's task state, or how the call failed."""
    instruments().agent_call_duration.record(duration_ms, {"agent": agent, "outcome": outcome})


def record_agent_retry(agent: str) -> None:
    """An A2A call is a retry (its attempt number is above 1)."""
    instruments().agent_call_retries.add(1, {"agent": agent})


def record_token_issued(kind: str) -> None:
    """A token of `kind` was audited and handed out."""
    instruments().tokens_issued.add(1, {"kind": kind})


def record_rate_limited(route: str) -> None:
    """A request on `route` was refused with 429."""
    instruments().ratelimit_rejected.add(1, {"route": route})


def record_event_published(event_type: str) -> None:
    """An event reached Web PubSub."""
    instruments().events_published.add(1, {"type": event_type})


def record_event_failed(event_type: str) -> None:
    """An event was dropped: Web PubSub failed on both attempts, or its batch ran out of time."""
    instruments().events_failed.add(1, {"type": event_type})


def record_history_pending() -> None:
    """A delegation ended with its turn not in the history (kept in its output)."""
    instruments().history_pending.add(1)


def record_history_reconciled(count: int) -> None:
    """The reconciliation job wrote `count` pending turns to the history."""
    instruments().history_reconciled.add(count)
