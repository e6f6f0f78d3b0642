"""The wrappers every function runs inside: `http_endpoint` for HTTP triggers and `activity`
for activity triggers (telemetry set up, correlation fields bound, a span, errors handled), and
the JSON responses HTTP functions return."""

import contextlib
import functools
import inspect
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar, cast

import azure.functions as func
from opentelemetry.trace import SpanKind

from voicea2a.config import ConfigError
from voicea2a.errors import ApiError, InternalError, NotConfigured, error_body
from voicea2a.telemetry.context import FIELDS, bound
from voicea2a.telemetry.setup import ensure_setup
from voicea2a.telemetry.spans import mark_failed, span

CORRELATION_HEADER = "x-correlation-id"
_SAFE_CORRELATION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

log = logging.getLogger("bindings")

HttpHandler = Callable[..., Awaitable[func.HttpResponse]]
F = TypeVar("F", bound=Callable[..., Any])


# --- HTTP functions ---------------------------------------------------------------------------


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
            log.warning(
                "%s failed with %s (%s); correlation id %s",
                name,
                exc.code,
                exc.status,
                correlation_id,
            )
        return exc
    if isinstance(exc, ConfigError):
        # ConfigError messages name the setting and never hold a secret; keep it in the log only.
        log.error("%s is misconfigured: %s; correlation id %s", name, exc, correlation_id)
        return NotConfigured(f"The service is misconfigured. Reference: {correlation_id}")
    log.exception("Unhandled error in %s; correlation id %s", name, correlation_id)
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
        ensure_setup()
        req = _find_request(args, kwargs)
        correlation_id = _correlation_id_for(req)
        instance_id = (req.route_params or {}).get("instanceId") if req is not None else None
        started = time.perf_counter()
        with (
            bound(correlationId=correlation_id, instanceId=instance_id),
            span(
                f"http {name}",
                # Internal, not server: the host already records the request (Host.Results); a
                # server span would be a second row in Application Insights' requests table.
                kind=SpanKind.INTERNAL,
                traceparent=req.headers.get("traceparent") if req is not None else None,
                attributes={"faas.name": name, "http.request.method": _method(req)},
            ) as current,
        ):
            try:
                response = await fn(*args, **kwargs)
            except Exception as exc:
                response = error_response(_to_error(exc, name, correlation_id), correlation_id)
            status = response.status_code
            current.set_attribute("http.response.status_code", status)
            if status >= 500:
                mark_failed(current, f"HTTP {status}")
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info(
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


# --- activities -------------------------------------------------------------------------------


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

        return cast(F, run_async)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _activity_scope(name, _payload(args, kwargs)):
            return fn(*args, **kwargs)

    return cast(F, run)
