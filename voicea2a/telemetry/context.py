"""The correlation fields of the request or activity being handled: one contextvar."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from voicea2a.audit import pseudonym

# The correlation fields of every log line, in this order.
FIELDS = ("correlationId", "conversationId", "callId", "instanceId", "agent", "user")
MAX_FIELD_CHARS = 200

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
