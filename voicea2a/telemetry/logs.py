"""The log filter (correlation fields, trace ids, redaction) and the JSON and text formatters."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from voicea2a.telemetry.context import FIELDS, current_fields
from voicea2a.telemetry.redaction import redact

# Structured fields a record may carry through `extra=`; anything else in `extra` is not shown.
EXTRA_FIELDS = ("event", "route", "status", "outcome", "durationMs", "attempt", "kind")

_plain = logging.Formatter()


class TelemetryFilter(logging.Filter):
    """Attached to the root handlers: stamps the correlation fields (and the current trace) on
    each record, and redacts its message, exception and stack text. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp and redact `record` once (the first handler's filter does it for all)."""
        if getattr(record, "_voicea2a", False):
            return True
        record._voicea2a = True
        for name, value in current_fields().items():
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


FILTER = TelemetryFilter()
