"""Bearer-token verification: Entra ID (OIDC) tokens and the app's own HS256 tokens."""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from voicea2a.config import AuthSettings
from voicea2a.errors import Forbidden, Unauthenticated
from voicea2a.payloads import is_text
from voicea2a.secrets import get_optional_secret, get_secret

if TYPE_CHECKING:
    from jwt import PyJWKClient

ROLES = ("user", "supervisor", "agent")
OIDC_ALGORITHMS = ("RS256", "ES256")
APP_ALGORITHM = "HS256"
LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss"]
# Real tokens are 1-3 KB; refusing big ones early bounds the work an attacker can ask for.
MAX_TOKEN_CHARS = 8192
APP_TOKEN_LIFETIME = timedelta(minutes=15)
SIGNING_KEY = "auth-signing-key"
PREVIOUS_SIGNING_KEY = "auth-signing-key-previous"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a stable user id, a display name and the roles granted."""

    user_id: str
    name: str
    roles: frozenset[str]

    def has_role(self, role: str) -> bool:
        """True when the principal holds `role`."""
        return role in self.roles

    def to_body(self) -> dict[str, Any]:
        """The JSON shape of `GET /api/auth/me`."""
        return {"userId": self.user_id, "name": self.name, "roles": sorted(self.roles)}


def key_id(key: str) -> str:
    """A public fingerprint of a signing key, sent as the `kid` header so keys can rotate."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an `Authorization: Bearer` header; only the header is ever read."""
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("A bearer token is required in the Authorization header.")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated("The bearer token is too large.")
    return token


def _roles(claims: Mapping[str, Any]) -> frozenset[str]:
    granted = claims.get("roles")
    names = granted if isinstance(granted, list) else []
    known = frozenset(r for r in names if isinstance(r, str) and r in ROLES)
    # A signed-in person with no app role assigned is an ordinary user.
    return known or frozenset({"user"})


def _principal(claims: Mapping[str, Any], user_claim: str) -> Principal:
    user_id = claims.get(user_claim) or claims["sub"]
    name = claims.get("name") or claims.get("preferred_username") or user_id
    # The user id keys the caller's history and instances: an empty or blank one would be a
    # shared nobody, and one that is not text (a lone surrogate) cannot even be stored.
    if not isinstance(user_id, str) or not user_id.strip() or not is_text(user_id):
        raise Unauthenticated("The token's subject is not valid.")
    if not isinstance(name, str) or not is_text(name):
        raise Unauthenticated("The token's name is not valid.")
    return Principal(user_id=user_id, name=name, roles=_roles(claims))


def _decode(token: str, key: Any, algorithms: list[str], audience: str, issuer: str) -> dict:
    import jwt

    try:
        return jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"The bearer token is not valid: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """A short reason that never echoes token contents."""
    import jwt

    reasons = {
        jwt.ExpiredSignatureError: "it has expired",
        jwt.ImmatureSignatureError: "it is not valid yet",
        jwt.InvalidAudienceError: "wrong audience",
        jwt.InvalidIssuerError: "wrong issuer",
        jwt.MissingRequiredClaimError: "a required claim is missing",
        jwt.InvalidSignatureError: "bad signature",
        jwt.InvalidAlgorithmError: "algorithm not allowed",
    }
    for kind, reason in reasons.items():
        if isinstance(exc, kind):
            return reason
    return "malformed"


async def _app_signing_keys() -> dict[str, str]:
    """The current and (during a rotation) previous signing keys, by key id."""
    keys = [await get_secret(SIGNING_KEY), await get_optional_secret(PREVIOUS_SIGNING_KEY)]
    return {key_id(key): key for key in keys if key}


async def issue_app_token(
    auth: AuthSettings, user_id: str, roles: Iterable[str], name: str | None = None
) -> tuple[str, datetime]:
    """Sign a 15-minute HS256 token for `user_id` with the current signing key."""
    import jwt

    key = await get_secret(SIGNING_KEY)
    now = datetime.now(UTC)
    expires = now + APP_TOKEN_LIFETIME
    claims = {
        "iss": auth.app_issuer,
        "aud": auth.app_audience,
        "sub": user_id,
        "name": name or user_id,
        "roles": sorted(set(roles)),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    token = jwt.encode(claims, key, algorithm=APP_ALGORITHM, headers={"kid": key_id(key)})
    return token, expires.replace(microsecond=0)


class OidcKeys:
    """The issuer's signing keys: discovery once, then PyJWKClient (cached; refetched on an
    unknown `kid`, at most once per cool-down)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._client: PyJWKClient | None = None
        self._lock = asyncio.Lock()

    async def signing_key(self, kid: str) -> Any:
        """The public key for `kid`, or Unauthenticated."""
        import jwt

        client = await self._jwk_client()
        try:
            return (await asyncio.to_thread(client.get_signing_key, kid)).key
        except jwt.PyJWKClientError:
            raise Unauthenticated("The bearer token is not valid: unknown signing key") from None

    async def _jwk_client(self) -> PyJWKClient:
        async with self._lock:
            if self._client is None:
                from jwt import PyJWKClient

                jwks_uri = await asyncio.to_thread(self._discover_jwks_uri)
                self._client = PyJWKClient(jwks_uri, cache_keys=True, lifespan=3600, timeout=5)
            return self._client

    def _discover_jwks_uri(self) -> str:
        url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (https issuer)
                return json.load(response)["jwks_uri"]
        except (OSError, ValueError, KeyError):
            raise Unauthenticated("The identity provider's keys are not available.") from None


_oidc: dict[str, OidcKeys] = {}


def _oidc_keys(issuer: str) -> OidcKeys:
    if issuer not in _oidc:
        _oidc[issuer] = OidcKeys(issuer)
    return _oidc[issuer]


def reset_oidc_cache() -> None:
    """Forget discovered issuers and their keys (tests)."""
    _oidc.clear()


async def authenticate(headers: Mapping[str, str], auth: AuthSettings) -> Principal:
    """Verify the request's bearer token and return who is calling, or raise Unauthenticated."""
    import jwt

    token = bearer_token(headers)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthenticated("The bearer token is not valid: malformed") from None
    algorithm = header.get("alg")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("The bearer token is not valid: no key id")
    if algorithm == APP_ALGORITHM:
        key = (await _app_signing_keys()).get(kid)
        if key is None:
            raise Unauthenticated("The bearer token is not valid: unknown signing key")
        claims = _decode(token, key, [APP_ALGORITHM], auth.app_audience, auth.app_issuer)
        return _principal(claims, "sub")
    if algorithm in OIDC_ALGORITHMS and auth.oidc_issuer and auth.oidc_audience:
        key = await _oidc_keys(auth.oidc_issuer).signing_key(kid)
        claims = _decode(token, key, list(OIDC_ALGORITHMS), auth.oidc_audience, auth.oidc_issuer)
        # Entra's `oid` is the user's stable id across applications; `sub` is per application.
        return _principal(claims, "oid")
    raise Unauthenticated("The bearer token is not valid: algorithm not allowed")


def require_role(principal: Principal, *roles: str) -> Principal:
    """Return the principal when it holds one of `roles`, else Forbidden."""
    if not any(principal.has_role(role) for role in roles):
        raise Forbidden(f"This needs the {' or '.join(roles)} role.")
    return principal
