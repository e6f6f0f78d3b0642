"""Schemathesis hooks for the fuzz run (loaded through SCHEMATHESIS_HOOKS by test_fuzz.py).

`error_body`: every error response, documented or not, has the project's one error body
`{"error": {"code", "message", "retryable", "retryAfter?"}}` with the code its status allows,
`Retry-After` on 429, and no traceback. Only `GET /api/health`'s 503 is not an error body
(it is the health report).

`flatmap_body`: half of the JSON object bodies get a lone surrogate or a control character in
one of their strings, shapes schemas cannot express and the generator rarely makes (TOML, the
fuzz dictionaries' format, cannot hold a lone surrogate at all).
"""

from __future__ import annotations

import json

import schemathesis
from hypothesis import strategies as st

# Status -> the error codes the app answers it with (voicea2a/errors.py; 405 comes from the host).
# test_openapi.py checks this table against the spec and the error classes.
CODES = {
    400: {"invalid_request"},
    401: {"unauthenticated"},
    403: {"forbidden"},
    404: {"not_found"},
    405: {"invalid_request"},
    409: {"conflict"},
    413: {"invalid_request"},
    415: {"invalid_request"},
    429: {"rate_limited"},
    500: {"internal"},
    502: {"upstream_unavailable"},
    503: {"upstream_unavailable", "not_configured"},
}
KEYS = {"code", "message", "retryable", "retryAfter"}
# Sent as JSON escapes (the client's json.dumps escapes non-ASCII), as a browser sends them.
HOSTILE_TEXT = ("\ud800", " \udfff", "\ud83d", "\x00", "\x1b[2J", "\x85", "\r\nX-Injected: 1")


@schemathesis.hook
def flatmap_body(ctx, body):  # noqa: ANN001, ANN201 (schemathesis' hook signature)
    """The body as generated, or with hostile text appended to one of its top-level strings."""
    if not isinstance(body, dict):
        return st.just(body)
    names = sorted(name for name, value in body.items() if isinstance(value, str))
    if not names:
        return st.just(body)
    spoiled = st.tuples(st.sampled_from(names), st.sampled_from(HOSTILE_TEXT)).map(
        lambda pick: {**body, pick[0]: body[pick[0]] + pick[1]}
    )
    return st.one_of(st.just(body), spoiled)


@schemathesis.check
def error_body(ctx, response, case) -> None:  # noqa: ANN001 (schemathesis' check signature)
    """The one error body on every 4xx/5xx."""
    status = response.status_code
    if status < 400 or (case.operation.path == "/api/health" and status == 503):
        return
    media_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if media_type != "application/json":
        raise AssertionError(f"{status} answered with {media_type or 'no'} content type")
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{status} answered with a body that is not JSON") from None
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        raise AssertionError(f"{status} body is not {{'error': {{...}}}}: {body!r:.300}")
    error = body["error"]
    missing = {"code", "message", "retryable"} - set(error)
    if missing or set(error) - KEYS:
        raise AssertionError(f"{status} error object has keys {sorted(error)}")
    if status not in CODES or error["code"] not in CODES[status]:
        raise AssertionError(f"status {status} with error code {error['code']!r}")
    if not isinstance(error["message"], str) or not isinstance(error["retryable"], bool):
        raise AssertionError(f"{status} error message/retryable have the wrong types: {error}")
    if "Traceback" in error["message"] or 'File "' in error["message"]:
        raise AssertionError(f"{status} error message carries a traceback")
    if status == 429 and not response.headers.get("retry-after"):
        raise AssertionError("429 without Retry-After")
