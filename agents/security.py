"""Who may call an agent: every A2A request carries a credential; the card stays public.

The card declares what is accepted (A2A 1.0 `securitySchemes`, any one of the
`securityRequirements`), from the agent's settings:

- `appToken` (HTTP bearer, JWT): the Voice A2A app's HS256 token, signed with AUTH_SIGNING_KEY,
  `iss` AGENT_TOKEN_ISSUER, `aud` AGENT_TOKEN_AUDIENCE, and an `agent` claim naming this agent
  (its card name), so a token handed to one agent cannot be replayed to another;
- `entra` (OpenID Connect): an Entra ID access token (RS256) from AGENT_ENTRA_ISSUER for
  AGENT_ENTRA_AUDIENCE, keys from AGENT_ENTRA_JWKS_URL, with the app role AGENT_ENTRA_ROLE if set;
- `apiKey`: the `X-API-Key` header equal to AGENT_API_KEY.

A refused request gets HTTP 401, `WWW-Authenticate: Bearer` and a JSON-RPC error body, and never
reaches the a2a-sdk. An accepted one carries its verified subject as the Starlette user, which
the a2a-sdk turns into the ServerCallContext user; its task store keeps tasks per user, so only
the caller that started a task can read or continue it (anyone else gets TaskNotFound, -32001).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from a2a.types import (
    APIKeySecurityScheme,
    HTTPAuthSecurityScheme,
    OpenIdConnectSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from starlette.authentication import AuthCredentials, SimpleUser

if TYPE_CHECKING:
    from agents.faults import Receive, Scope, Send

log = logging.getLogger(__name__)

APP_ALGORITHM = "HS256"
ENTRA_ALGORITHM = "RS256"
API_KEY_HEADER = "X-API-Key"
API_KEY_SUBJECT = "api-key"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss"]
LEEWAY_SECONDS = 30
# Real tokens are 1-3 KB; refusing big ones early bounds the work a caller can ask for.
MAX_CREDENTIAL_CHARS = 8192
UNAUTHENTICATED_CODE = -32600
_CREDENTIAL_HEADERS = frozenset({b"authorization", API_KEY_HEADER.lower().encode()})


class Refused(Exception):
    """The request's credential is missing or not valid; the message says why, never what."""


@dataclass(frozen=True)
class Caller:
    """A verified caller: its subject (`sub`, or `api-key`) and how it proved it."""

    subject: str
    scheme: str


@dataclass(frozen=True)
class InboundAuth:
    """The credentials an agent accepts (settings.py reads them from the environment)."""

    signing_key: str | None = field(default=None, repr=False)
    app_issuer: str = "voicea2a"
    app_audience: str = "a2a-agents"
    entra_issuer: str | None = None
    entra_audience: str | None = None
    entra_jwks_url: str | None = None
    entra_role: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        """Whether any credential can pass; without one every call is refused."""
        return bool(self.signing_key or self.entra_issuer or self.api_key)


def card_security(auth: InboundAuth) -> tuple[dict[str, SecurityScheme], list[SecurityRequirement]]:
    """The card's `securitySchemes` and its alternative `securityRequirements`."""
    schemes: dict[str, SecurityScheme] = {}
    requirements: list[SecurityRequirement] = []
    if auth.signing_key:
        schemes["appToken"] = SecurityScheme(
            http_auth_security_scheme=HTTPAuthSecurityScheme(
                scheme="Bearer",
                bearer_format="JWT",
                description=(
                    f"The Voice A2A app's HS256 token: iss {auth.app_issuer}, "
                    f"aud {auth.app_audience}, claim `agent` = this card's name."
                ),
            )
        )
        requirements.append(SecurityRequirement(schemes={"appToken": StringList()}))
    if auth.entra_issuer and auth.entra_audience:
        schemes["entra"] = SecurityScheme(
            open_id_connect_security_scheme=OpenIdConnectSecurityScheme(
                open_id_connect_url=(
                    f"{auth.entra_issuer.rstrip('/')}/.well-known/openid-configuration"
                ),
                description="An Entra ID access token for the scope listed in the requirement.",
            )
        )
        scope = f"{auth.entra_audience.rstrip('/')}/.default"
        requirements.append(SecurityRequirement(schemes={"entra": StringList(list=[scope])}))
    if auth.api_key:
        schemes["apiKey"] = SecurityScheme(
            api_key_security_scheme=APIKeySecurityScheme(location="header", name=API_KEY_HEADER)
        )
        requirements.append(SecurityRequirement(schemes={"apiKey": StringList()}))
    return schemes, requirements


class Verifier:
    """Checks one request's credential against an agent's InboundAuth."""

    def __init__(self, auth: InboundAuth, agent_title: str) -> None:
        self.auth = auth
        self.agent_title = agent_title

    async def verify(self, headers: dict[bytes, bytes]) -> Caller:
        """The verified caller, or Refused."""
        api_key = headers.get(API_KEY_HEADER.lower().encode())
        if api_key is not None and self.auth.api_key:
            if hmac.compare_digest(api_key, self.auth.api_key.encode()):
                return Caller(API_KEY_SUBJECT, "apiKey")
            raise Refused("the API key is not valid")
        token = _bearer(headers)
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Refused("the bearer token is malformed") from None
        algorithm = header.get("alg")
        if algorithm == APP_ALGORITHM and self.auth.signing_key:
            claims = _decode(
                token,
                self.auth.signing_key,
                APP_ALGORITHM,
                self.auth.app_audience,
                self.auth.app_issuer,
            )
            if claims.get("agent") != self.agent_title:
                raise Refused("the token is for another agent")
            return Caller(_subject(claims), "appToken")
        if algorithm == ENTRA_ALGORITHM and self.auth.entra_jwks_url and self.auth.entra_audience:
            key = await self._entra_key(token)
            claims = _decode(
                token,
                key,
                ENTRA_ALGORITHM,
                self.auth.entra_audience,
                self.auth.entra_issuer or "",
            )
            roles = claims.get("roles")
            if self.auth.entra_role and not (
                isinstance(roles, list) and self.auth.entra_role in roles
            ):
                raise Refused("the token lacks the required app role")
            return Caller(_subject(claims), "entra")
        raise Refused("the token's algorithm is not accepted")

    @cached_property
    def _jwks(self) -> Any:
        from jwt import PyJWKClient

        return PyJWKClient(self.auth.entra_jwks_url or "", cache_keys=True, timeout=5)

    async def _entra_key(self, token: str) -> Any:
        import jwt

        try:
            # PyJWKClient fetches with urllib (blocking); its cache makes that rare.
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWTError:
            raise Refused("the token's signing key is unknown") from None
        return signing_key.key


def _bearer(headers: dict[bytes, bytes]) -> str:
    value = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Refused("a credential is required")
    if len(token) > MAX_CREDENTIAL_CHARS:
        raise Refused("the bearer token is too large")
    return token


def _decode(token: str, key: Any, algorithm: str, audience: str, issuer: str) -> dict[str, Any]:
    import jwt

    try:
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise Refused("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise Refused("the token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise Refused("the token is from another issuer") from None
    except jwt.PyJWTError:
        raise Refused("the token is not valid") from None


def _subject(claims: dict[str, Any]) -> str:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise Refused("the token has no subject")
    return subject


class AuthMiddleware:
    """Refuses A2A requests at `rpc_path` without a valid credential (401), and hands the
    verified caller to the a2a-sdk as the request's user; other paths pass untouched."""

    def __init__(self, app: Any, *, verifier: Verifier, rpc_path: str) -> None:
        self.app = app
        self.verifier = verifier
        self.rpc_path = rpc_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Verify, then pass the request on with `user` and `auth` set; else answer 401."""
        if scope["type"] != "http" or scope["path"] != self.rpc_path:
            await self.app(scope, receive, send)
            return
        try:
            if not self.verifier.auth.configured:
                raise Refused("this agent accepts no credential (none is configured)")
            caller = await self.verifier.verify(dict(scope["headers"]))
        except Refused as exc:
            # The reason only: a credential's contents are never logged or echoed.
            log.warning("%s: refused an A2A request: %s", self.verifier.agent_title, exc)
            await _unauthenticated(send, str(exc))
            return
        scope["user"] = SimpleUser(caller.subject)
        scope["auth"] = AuthCredentials([caller.scheme])
        # The a2a-sdk keeps the request's headers in its call context and logs that context at
        # DEBUG: the credential, verified and no longer needed, must not travel on with them.
        scope["headers"] = [
            (name, value) for name, value in scope["headers"] if name not in _CREDENTIAL_HEADERS
        ]
        await self.app(scope, receive, send)


async def _unauthenticated(send: Send, reason: str) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": UNAUTHENTICATED_CODE, "message": f"Unauthenticated: {reason}."},
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="a2a-agents", error="invalid_token"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
