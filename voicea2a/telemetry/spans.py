"""Spans: the app's tracer, a span continuing a W3C traceparent, and the one to forward."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from voicea2a.telemetry.redaction import redact

INSTRUMENTATION_NAME = "voicea2a"
_PROPAGATOR = TraceContextTextMapPropagator()
_tracer_provider: Any = None
_tracer_cache: tuple[Any, Any] | None = None


def use_tracer_provider(provider: Any = None) -> None:
    """Use this tracer provider instead of the global one (None: the global one again)."""
    global _tracer_provider, _tracer_cache
    _tracer_provider, _tracer_cache = provider, None


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
