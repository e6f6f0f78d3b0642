"""Access-key JWTs: client access tokens, REST call tokens and reconnection tokens (all HS256)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import jwt

ALGORITHM = "HS256"
# The official emulator validates lifetimes with a five-minute clock skew; so do we.
CLOCK_SKEW_SECONDS = 300
RECONNECTION_ISSUER = "devhost.pubsub/reconnection"
RECONNECTION_TOKEN_SECONDS = 7 * 24 * 3600


class TokenError(Exception):
    """A token is missing, malformed, badly signed, expired or meant for another audience."""


@dataclass(frozen=True)
class ClientIdentity:
    """What a client access token grants: a user id, roles and the groups joined on connect."""

    user_id: str | None
    roles: frozenset[str]
    groups: tuple[str, ...]


def client_audience(endpoint: str, hub: str) -> str:
    """The `aud` of a client token, as the SDK computes it: `<endpoint>/client/hubs/<hub>`."""
    return f"{endpoint.rstrip('/').lower()}/client/hubs/{hub}"


def _decode(token: str, key: str) -> dict:
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp"], "verify_aud": False, "verify_iss": False},
        )
    except jwt.PyJWTError as error:
        raise TokenError(str(error)) from error


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(item, str) for item in aud):
        return aud
    raise TokenError("token has no audience")


def _as_list(value: object, claim: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise TokenError(f"claim {claim!r} must be a string or a list of strings")


def verify_client_token(token: str, key: str, audiences: Iterable[str]) -> ClientIdentity:
    """Check a client access token (signature, exp/nbf, aud case-insensitively) and read it."""
    claims = _decode(token, key)
    accepted = {audience.lower() for audience in audiences}
    if not any(aud.lower() in accepted for aud in _audiences(claims)):
        raise TokenError("token audience does not match this hub")
    user_id = claims.get("sub")
    if user_id is not None and not isinstance(user_id, str):
        raise TokenError("claim 'sub' must be a string")
    return ClientIdentity(
        user_id=user_id or None,
        roles=frozenset(_as_list(claims.get("role"), "role")),
        groups=tuple(_as_list(claims.get("webpubsub.group"), "webpubsub.group")),
    )


def _rest_audiences(request_url: str) -> set[str]:
    """The full request URL and the URL without its query, raw and percent-decoded."""
    parts = urlsplit(request_url)
    without_query = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    forms = {request_url, without_query}
    return {form.lower() for form in forms} | {unquote(form).lower() for form in forms}


def verify_rest_token(token: str, key: str, request_url: str) -> None:
    """Check the token the SDK signs per REST call: HS256, `exp`, `aud` = the request URL."""
    claims = _decode(token, key)
    accepted = _rest_audiences(request_url)
    for aud in _audiences(claims):
        if aud.lower() in accepted or unquote(aud).lower() in accepted:
            return
    raise TokenError("token audience does not match the request URL")


def issue_client_token(
    key: str,
    audience: str,
    *,
    user_id: str | None = None,
    roles: Iterable[str] = (),
    groups: Iterable[str] = (),
    minutes_to_expire: int = 60,
) -> str:
    """A client access token with the same claims the SDK puts in one."""
    now = int(time.time())
    payload: dict[str, object] = {"aud": audience, "iat": now, "exp": now + 60 * minutes_to_expire}
    if user_id:
        payload["sub"] = user_id
    if roles := list(roles):
        payload["role"] = roles
    if groups := list(groups):
        payload["webpubsub.group"] = groups
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def issue_reconnection_token(key: str, connection_id: str) -> str:
    """A token that lets only this connection id be recovered (the session window still applies)."""
    now = int(time.time())
    payload = {
        "iss": RECONNECTION_ISSUER,
        "aud": connection_id,
        "iat": now,
        "exp": now + RECONNECTION_TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def verify_reconnection_token(token: str, key: str, connection_id: str) -> bool:
    """True when the token was issued by this service for this connection id."""
    try:
        jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=connection_id,
            issuer=RECONNECTION_ISSUER,
            options={"require": ["exp", "aud", "iss"]},
        )
    except jwt.PyJWTError:
        return False
    return True
