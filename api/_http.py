"""The azure.functions-facing HTTP helpers every HTTP function uses."""

import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import azure.functions as func
from opentelemetry.trace import SpanKind

from voicea2a import telemetry
from voicea2a.audit import AuditRecord
from voicea2a.auth import Principal, authenticate, require_role
from voicea2a.config import ConfigError, get_settings
from voicea2a.errors import ApiError, InternalError, NotConfigured, error_body
from voicea2a.payloads import parse_json_body

CORRELATION_HEADER = "x-correlation-id"
_SAFE_CORRELATION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Ids from a request body worth a log field (shape checked: a log line is no place to echo
# arbitrary input; the route validates them properly).
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")

logger = logging.getLogger(__name__)

HttpHandler = Callable[..., Awaitable[func.HttpResponse]]

# The correlation id lives in the one telemetry context (voicea2a/telemetry.py).
current_correlation_id = telemetry.current_correlation_id


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    """Return a JSON response; `Cache-Control: no-store` unless `headers` overrides it."""
    all_headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    all_headers.update(headers or {})
    return func.HttpResponse(
        body=_utf8(json.dumps(body, separators=(",", ":"), ensure_ascii=False)),
        status_code=status,
        headers=all_headers,
        mimetype="application/json",
        charset="utf-8",
    )


def _utf8(text: str) -> bytes:
    """`text` as UTF-8. A lone surrogate (in a row stored before the edge refused them, or by
    another writer) is shown as U+FFFD: it must never make a response, and so a user's history,
    unwritable."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


def error_response(err: ApiError, correlation_id: str) -> func.HttpResponse:
    """Return the standard error body for `err`, with Retry-After when it has one."""
    headers = {CORRELATION_HEADER: correlation_id}
    if err.retry_after is not None:
        headers["Retry-After"] = str(err.retry_after)
    return json_response(error_body(err), status=err.status, headers=headers)


def read_json(req: func.HttpRequest, free_text: Collection[str] = ()) -> dict[str, Any]:
    """Parse the request body as a JSON object within the configured size limit, every string
    in it text (no lone surrogate or control character; tabs and line breaks only in the
    `free_text` fields); a `callId` or `conversationId` in it becomes a log field of the rest of
    the request."""
    body = parse_json_body(
        req.get_body(),
        req.headers.get("content-type"),
        get_settings().max_request_body_bytes,
        free_text,
    )
    ids = {
        name: body[name]
        for name in ("conversationId", "callId")
        if isinstance(body.get(name), str) and _SAFE_ID.fullmatch(body[name])
    }
    if ids:
        telemetry.bind(**ids)  # undone when http_endpoint restores the request's context
    return body


async def signed_in(req: func.HttpRequest, *roles: str) -> Principal:
    """The caller (401 without a valid bearer token; 403 without one of `roles`, if given).
    The rest of the request's log lines carry the caller's pseudonym."""
    principal = await authenticate(req.headers, get_settings().auth)
    telemetry.bind(user=principal.user_id)  # undone when http_endpoint restores the context
    return require_role(principal, *roles) if roles else principal


def token_audit(req: func.HttpRequest, user: str, kind: str) -> AuditRecord:
    """The audit record of a token request: who, what kind, from where."""
    return AuditRecord(
        user=user,
        kind=kind,
        outcome="issued",
        client_ip=client_ip(req),
        user_agent=req.headers.get("user-agent", ""),
        correlation_id=current_correlation_id() or "",
    )


def client_ip(req: func.HttpRequest) -> str:
    """The caller's IP address as the platform's front end reports it (port removed)."""
    # The front end appends the address it saw to X-Forwarded-For; earlier entries come from
    # the client and cannot be trusted, so the last one is used.
    forwarded = req.headers.get("x-forwarded-for", "")
    last = forwarded.split(",")[-1].strip() if forwarded else ""
    if last.startswith("["):  # [IPv6]:port
        return last[1:].split("]")[0]
    if last.count(":") == 1:  # IPv4:port
        return last.split(":")[0]
    return last or "unknown"


def _correlation_id_for(req: func.HttpRequest | None) -> str:
    supplied = req.headers.get(CORRELATION_HEADER) if req is not None else None
    if supplied and _SAFE_CORRELATION_ID.fullmatch(supplied):
        return supplied
    return uuid.uuid4().hex


def _find_request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> func.HttpRequest | None:
    request = kwargs.get("req")
    if isinstance(request, func.HttpRequest):
        return request
    for value in (*args, *kwargs.values()):
        if isinstance(value, func.HttpRequest):
            return value
    return None


def _to_error(exc: Exception, name: str, correlation_id: str) -> ApiError:
    if isinstance(exc, ApiError):
        if exc.status >= 500:
            logger.warning(
                "%s failed with %s (%s); correlation id %s",
                name,
                exc.code,
                exc.status,
                correlation_id,
            )
        return exc
    if isinstance(exc, ConfigError):
        # ConfigError messages name the setting and never hold a secret; keep it in the log only.
        logger.error("%s is misconfigured: %s; correlation id %s", name, exc, correlation_id)
        return NotConfigured(f"The service is misconfigured. Reference: {correlation_id}")
    logger.exception("Unhandled error in %s; correlation id %s", name, correlation_id)
    return InternalError(f"An internal error occurred. Reference: {correlation_id}")


def http_endpoint(fn: HttpHandler) -> HttpHandler:
    """Wrap an async HTTP function: telemetry set up (once per process), a correlation id and a
    span continuing the caller's `traceparent`, one log line per request, ApiError →
    error body, anything else → 500."""
    name = fn.__name__

    # functools.wraps keeps the name, signature (via __wrapped__) and annotations the
    # Functions worker indexes and binds by parameter name (req, client, ...).
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> func.HttpResponse:
        telemetry.ensure_setup()
        req = _find_request(args, kwargs)
        correlation_id = _correlation_id_for(req)
        instance_id = (req.route_params or {}).get("instanceId") if req is not None else None
        started = time.perf_counter()
        with (
            telemetry.bound(correlationId=correlation_id, instanceId=instance_id),
            telemetry.span(
                f"http {name}",
                # Internal, not server: the host already records the request (Host.Results); a
                # server span would be a second row in Application Insights' requests table.
                kind=SpanKind.INTERNAL,
                traceparent=req.headers.get("traceparent") if req is not None else None,
                attributes={"faas.name": name, "http.request.method": _method(req)},
            ) as span,
        ):
            try:
                response = await fn(*args, **kwargs)
            except Exception as exc:
                response = error_response(_to_error(exc, name, correlation_id), correlation_id)
            status = response.status_code
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                telemetry.mark_failed(span, f"HTTP {status}")
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.info(
                "%s %s -> %d in %.0f ms",
                _method(req),
                name,
                status,
                elapsed_ms,
                extra={
                    "event": "http.request",
                    "route": name,
                    "status": status,
                    "durationMs": round(elapsed_ms, 1),
                },
            )
        response.headers[CORRELATION_HEADER] = correlation_id
        return response

    return wrapper


def _method(req: func.HttpRequest | None) -> str:
    return (req.method or "").upper() if req is not None else ""
