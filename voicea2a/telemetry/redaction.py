"""Anything shaped like a credential, replaced by [REDACTED] in log lines and span events."""

from __future__ import annotations

import functools
import re

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
