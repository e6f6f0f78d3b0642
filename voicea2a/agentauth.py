"""Credentials for calling an agent, as its card's security schemes ask (A2A 1.0 and 0.3 cards).

A card lists alternative security requirements, each naming schemes that must all be satisfied;
the first one we can satisfy is used (a card with none gets no credential):

- HTTP bearer: the app's own HS256 token (`iss` AUTH_APP_ISSUER, `aud` `a2a-agents`, claim
  `agent` = the card's name so the agent cannot replay it to another one; 5 minutes), signed with
  the secret `auth-signing-key`;
- OAuth 2.0 / OpenID Connect: an Entra access token for the requirement's one scope, from the
  app's managed identity, cached per scope until 5 minutes before it expires. Only for audiences
  in A2A_AGENT_AUDIENCES: else any card could ask for the identity's token to Key Vault or ARM;
- API key in a header: the secret `a2a-key-<agent name>` (Key Vault; locally `A2A_KEY_<NAME>`).

A scheme we cannot satisfy is an A2AError of kind AUTH_UNAVAILABLE, whose message says which and
why. A credential's value is never logged, and is kept out of error messages (a2a.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from voicea2a.a2a import A2AError, A2AErrorKind, AgentCardInfo
from voicea2a.auth import APP_ALGORITHM, SIGNING_KEY, key_id
from voicea2a.config import get_settings
from voicea2a.errors import ApiError
from voicea2a.identity import azure_credential
from voicea2a.registry import agent_key
from voicea2a.secrets import get_optional_secret, get_secret
from voicea2a.singleflight import MISS, SingleFlight

AGENT_AUDIENCE = "a2a-agents"
APP_SUBJECT = "voicea2a-app"
APP_TOKEN_LIFETIME = timedelta(minutes=5)
# An Entra token is replaced this long before it expires, so a call never carries one that lapses.
REFRESH_MARGIN_SECONDS = 300.0
_HEADER_NAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
# An API key may not overwrite the headers the call itself depends on.
_RESERVED_HEADERS = frozenset(
    {"host", "content-type", "content-length", "accept", "a2a-version", "traceparent"}
)


def api_key_secret(card_name: str) -> str:
    """The secret holding the API key for the agent whose card is named `card_name`."""
    return f"a2a-key-{agent_key(card_name)}"


class AgentCredentials:
    """Produces the headers a call to an agent needs; Entra tokens are cached per scope."""

    def __init__(self, credential: Any = None, clock: Callable[[], float] = time.time) -> None:
        self._credential = credential
        self._clock = clock  # epoch seconds, as AccessToken.expires_on
        self._lock = threading.Lock()
        self._tokens: dict[str, Any] = {}
        self._flights: SingleFlight[Any] = SingleFlight()

    async def headers(self, card: AgentCardInfo) -> dict[str, str]:
        """The headers of the first security requirement of `card` we can satisfy."""
        schemes = _schemes(card.raw)
        reasons = []
        for requirement in _requirements(card.raw):
            try:
                headers: dict[str, str] = {}
                for name, scopes in requirement.items():
                    headers.update(await self._satisfy(card, name, schemes.get(name), scopes))
                return headers
            except _Unsatisfiable as exc:
                reasons.append(str(exc))
        if not reasons:
            return {}
        raise A2AError(
            A2AErrorKind.AUTH_UNAVAILABLE,
            f"cannot authenticate to agent '{card.name}': {'; '.join(reasons)}",
        )

    async def _satisfy(
        self, card: AgentCardInfo, name: str, scheme: Any, scopes: list[str]
    ) -> dict[str, str]:
        kind = _kind(scheme)
        if kind == "bearer":
            return {"Authorization": f"Bearer {await _app_token(card.name)}"}
        if kind == "apiKey":
            return await _api_key(card, name, scheme)
        if kind == "entra":
            return {"Authorization": f"Bearer {await self._entra_token(name, scheme, scopes)}"}
        raise _Unsatisfiable(f"scheme '{name}' is not one we support ({kind})")

    async def _entra_token(self, name: str, scheme: dict[str, Any], scopes: list[str]) -> str:
        wanted = scopes or _flow_scopes(scheme)
        if len(wanted) != 1:
            raise _Unsatisfiable(f"scheme '{name}' must name exactly one scope")
        scope = wanted[0]
        audience = scope.removesuffix("/.default")
        if audience not in get_settings().delegation.agent_audiences:
            raise _Unsatisfiable(f"audience '{audience[:100]}' is not in A2A_AGENT_AUDIENCES")
        try:
            token = await self._flights.get(
                scope, lambda: self._fresh(scope), lambda: self._refresh(scope)
            )
        except Exception as exc:  # azure-identity raises several kinds; none is retried here
            raise _Unsatisfiable(
                f"no Entra token for '{audience[:100]}' ({type(exc).__name__})"
            ) from None
        return token.token

    def _fresh(self, scope: str) -> object:
        with self._lock:
            token = self._tokens.get(scope)
        if token is not None and token.expires_on - REFRESH_MARGIN_SECONDS > self._clock():
            return token
        return MISS

    def _refresh(self, scope: str) -> Any:
        with self._lock:
            if self._credential is None:
                self._credential = azure_credential(get_settings().managed_identity_client_id)
            credential = self._credential
        token = credential.get_token(scope)
        with self._lock:
            self._tokens[scope] = token
        return token


class _Unsatisfiable(Exception):
    """One scheme of a requirement cannot be satisfied; the message says why (no secrets)."""


async def _app_token(card_name: str) -> str:
    import jwt

    try:
        key = await get_secret(SIGNING_KEY)
    except ApiError as exc:
        raise _Unsatisfiable(f"no app signing key ({exc.message})") from None
    now = datetime.now(UTC)
    claims = {
        "iss": get_settings().auth.app_issuer,
        "aud": AGENT_AUDIENCE,
        "sub": APP_SUBJECT,
        "agent": card_name,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + APP_TOKEN_LIFETIME).timestamp()),
    }
    return jwt.encode(claims, key, algorithm=APP_ALGORITHM, headers={"kid": key_id(key)})


async def _api_key(card: AgentCardInfo, name: str, scheme: dict[str, Any]) -> dict[str, str]:
    body = scheme.get("apiKeySecurityScheme", scheme)
    header = str(body.get("name") or "")
    if str(body.get("location") or body.get("in") or "").lower() != "header":
        raise _Unsatisfiable(f"scheme '{name}' wants the API key outside a header")
    if not header or not set(header.lower()) <= _HEADER_NAME or header.lower() in _RESERVED_HEADERS:
        raise _Unsatisfiable(f"scheme '{name}' names an unusable header")
    secret = api_key_secret(card.name)
    try:
        value = await get_optional_secret(secret)
    except ApiError as exc:
        raise _Unsatisfiable(f"the secret '{secret}' could not be read ({exc.message})") from None
    if value is None:
        raise _Unsatisfiable(f"the secret '{secret}' is not configured")
    return {header: value}


# --- reading the card (1.0: ProtoJSON; 0.3: OpenAPI-style) ------------------------------------


def _schemes(card: Mapping[str, Any]) -> dict[str, Any]:
    schemes = card.get("securitySchemes")
    return schemes if isinstance(schemes, dict) else {}


def _requirements(card: Mapping[str, Any]) -> list[dict[str, list[str]]]:
    """Each alternative requirement as {scheme name: scopes}."""
    requirements = []
    for entry in card.get("securityRequirements") or card.get("security") or []:
        if not isinstance(entry, dict):
            continue
        # 1.0: {"schemes": {name: {"list": [...]}}}; 0.3: {name: [...]}.
        named = entry.get("schemes") if "schemes" in entry else entry
        if not isinstance(named, dict):
            continue
        requirement = {}
        for name, scopes in named.items():
            values = scopes.get("list", []) if isinstance(scopes, dict) else scopes
            requirement[str(name)] = [s for s in values or [] if isinstance(s, str)]
        requirements.append(requirement)
    return requirements


def _kind(scheme: Any) -> str:
    if not isinstance(scheme, dict):
        return "undeclared"
    http = scheme.get("httpAuthSecurityScheme")
    if isinstance(http, dict) or scheme.get("type") == "http":
        value = (http or scheme).get("scheme", "")
        return "bearer" if str(value).lower() == "bearer" else f"http {str(value)[:20]}"
    if "apiKeySecurityScheme" in scheme or scheme.get("type") == "apiKey":
        return "apiKey"
    if {"oauth2SecurityScheme", "openIdConnectSecurityScheme"} & scheme.keys() or scheme.get(
        "type"
    ) in ("oauth2", "openIdConnect"):
        return "entra"
    return "mutual TLS" if "mtlsSecurityScheme" in scheme else "unknown"


def _flow_scopes(scheme: dict[str, Any]) -> list[str]:
    body = scheme.get("oauth2SecurityScheme", scheme)
    flows = body.get("flows") if isinstance(body, dict) else None
    flow = flows.get("clientCredentials") if isinstance(flows, dict) else None
    scopes = flow.get("scopes") if isinstance(flow, dict) else None
    return list(scopes) if isinstance(scopes, dict) else []


_credentials = AgentCredentials()


def agent_credentials() -> AgentCredentials:
    """The process-wide credentials (one Entra token cache)."""
    return _credentials


def set_agent_credentials(credentials: AgentCredentials) -> None:
    """Use `credentials` instead (tests: an injected azure-identity credential or clock)."""
    global _credentials
    _credentials = credentials
