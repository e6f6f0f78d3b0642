"""The once-per-process setup of logging and OpenTelemetry, at the first invocation."""

from __future__ import annotations

import logging
import sys
import threading
import weakref
from typing import Any

from opentelemetry import trace

from voicea2a.config import ConfigError, TelemetrySettings, get_settings
from voicea2a.telemetry import metrics, spans
from voicea2a.telemetry.logs import FILTER, JsonFormatter, formatter_for

log = logging.getLogger(__name__)

# The app's own loggers, which LOG_LEVEL applies to.
APP_LOGGERS = ("bindings", "api", "activities", "orchestrations", "jobs", "voicea2a")
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

    provider = TracerProvider(
        resource=Resource.create({"service.name": spans.INSTRUMENTATION_NAME})
    )
    provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


def use_providers(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Use these providers instead of the global ones (None: the global ones again). For tests
    with in-memory exporters; OpenTelemetry's global providers can be set only once."""
    spans.use_tracer_provider(tracer_provider)
    metrics.use_meter_provider(meter_provider)
