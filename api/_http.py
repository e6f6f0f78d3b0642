"""What HTTP functions read from a request: its JSON body, the signed-in caller, its address."""

import re
from collections.abc import Collection
from typing import Any, TypeVar

import azure.functions as func

from voicea2a.audit import AuditRecord
from voicea2a.auth import Principal, authenticate, require_role
from voicea2a.config import get_settings
from voicea2a.payloads import parse_json_body
from voicea2a.schema import Obj
from voicea2a.telemetry.context import bind, current_correlation_id

# Ids from a request body worth a log field (shape checked: a log line is no place to echo
# arbitrary input; the route validates them properly).
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")
T = TypeVar("T")


def read_body(req: func.HttpRequest, body: Obj[T], *, optional: bool = False) -> T:
    """The request body parsed by its declaration (voicea2a/schema.py); with `optional`, a
    request without a body reads as `{}`."""
    if optional and not req.get_body():
        return body.parse({})
    return body.parse(read_json(req, free_text=body.free_text))


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
        bind(**ids)  # undone when http_endpoint restores the request's context
    return body


async def signed_in(req: func.HttpRequest, *roles: str) -> Principal:
    """The caller (401 without a valid bearer token; 403 without one of `roles`, if given).
    The rest of the request's log lines carry the caller's pseudonym."""
    principal = await authenticate(req.headers, get_settings().auth)
    bind(user=principal.user_id)  # undone when http_endpoint restores the context
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
