"""Identity end to end on the devhost: sign-in, JWT verification, roles, the voice token,
rate limits and the audit trail, against Azurite."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conftest import in_one_rate_window, remember_secret
from tests.loopback import LoopbackServer
from voicea2a.auth import key_id

pytestmark = pytest.mark.azurite

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
ISSUER, AUDIENCE = "voicea2a", "voicea2a-api"


@pytest.fixture
def signing_key() -> str:
    return remember_secret("test-signing-key-" + secrets.token_hex(24))


@pytest.fixture
def voice_key() -> str:
    return remember_secret("voice-live-key-" + secrets.token_hex(16))


@pytest.fixture
def rate_limit() -> int:
    return 1000  # the rate-limit tests override this with the default of 10


@pytest.fixture
def app(start_host, azurite_env, signing_key, voice_key, monkeypatch, rate_limit):
    """The real Function App on a devhost, with dev sign-in and the voice key mode."""
    monkeypatch.setenv("VOICE_LIVE_API_KEY", voice_key)
    azurite_env(
        AUTH_SIGNING_KEY=signing_key,
        AUTH_DEV_LOGIN_ENABLED="true",
        VOICE_LIVE_ENDPOINT="https://voice.example.invalid",
        VOICE_LIVE_AUTH_MODE="key",
        RATE_LIMIT_VOICE_TOKEN_PER_MINUTE=str(rate_limit),
    )
    return start_host(ROOT, run_timers=False)


def app_token(key: str, **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ada",
        "iat": now,
        "exp": now + 600,
        "roles": ["user"],
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return remember_secret(jwt.encode(claims, key, algorithm="HS256", headers={"kid": key_id(key)}))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def dev_token(app, user: str = "ada", roles=None) -> str:
    body = {"user": user, **({"roles": roles} if roles else {})}
    response = app.http.post("/api/auth/dev-token", json=body)
    assert response.status_code == 200, response.text
    return remember_secret(response.json()["token"])


# ----- sign-in -----


def test_dev_sign_in_then_me(app):
    response = app.http.post("/api/auth/dev-token", json={"user": "ada", "roles": ["supervisor"]})
    body = response.json()

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert body["tokenType"] == "Bearer" and body["roles"] == ["supervisor"]
    expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    me = app.http.get("/api/auth/me", headers=bearer(body["token"]))
    assert me.json() == {"userId": "ada", "name": "ada", "roles": ["supervisor"]}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "user"),
        ({"user": ""}, "user"),
        ({"user": "a b"}, "user"),
        ({"user": "x" * 65}, "user"),
        ({"user": "ada", "roles": ["admin"]}, "roles"),
        ({"user": "ada", "roles": "user"}, "roles"),
        ({"user": "ada", "extra": 1}, "extra"),
    ],
)
def test_dev_sign_in_rejects_bad_bodies(app, payload, field):
    response = app.http.post("/api/auth/dev-token", json=payload)

    assert_error(response, 400, "invalid_request")
    assert field in response.json()["error"]["message"]


def test_dev_sign_in_is_404_when_disabled(start_host, azurite_env, signing_key):
    azurite_env(AUTH_SIGNING_KEY=signing_key, AUTH_DEV_LOGIN_ENABLED="false")
    host = start_host(ROOT, run_timers=False)

    assert_error(host.http.post("/api/auth/dev-token", json={"user": "ada"}), 404, "not_found")


# ----- the JWT attack suite -----


def _none_token() -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"x"}').rstrip(b"=")
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "eve", "iat": now, "exp": now + 600}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return f"{header.decode()}.{payload.decode()}."


def _tampered(key: str) -> str:
    header, payload, signature = app_token(key).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["supervisor"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


ATTACKS = {
    "alg none": lambda key: _none_token(),
    "expired": lambda key: app_token(key, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "nbf in the future": lambda key: app_token(key, nbf=int(time.time()) + 3600),
    "wrong issuer": lambda key: app_token(key, iss="someone-else"),
    "wrong audience": lambda key: app_token(key, aud="another-api"),
    "missing sub": lambda key: app_token(key, sub=None),
    "missing exp": lambda key: app_token(key, exp=None),
    "tampered payload": _tampered,
    "unknown kid": lambda key: jwt.encode(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "eve",
            "iat": int(time.time()),
            "exp": int(time.time()) + 600,
        },
        key,
        algorithm="HS256",
        headers={"kid": "not-a-known-key"},
    ),
    "signed with another key": lambda key: app_token("another-key-" + "x" * 32),
    "16 KB token": lambda key: app_token(key, padding="x" * 16_384),
    "garbage": lambda key: "not.a.jwt",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_jwt_attacks_are_unauthenticated(app, signing_key, attack):
    token = ATTACKS[attack](signing_key)

    assert_error(app.http.get("/api/auth/me", headers=bearer(token)), 401, "unauthenticated")


def test_no_header_or_a_token_only_in_the_query_string_is_unauthenticated(app, signing_key):
    token = app_token(signing_key)
    # Not registered for the log scan: the test's own HTTP client logs the URL it calls.
    now = int(time.time())
    in_url = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "iat": now, "exp": now + 60},
        signing_key,
        algorithm="HS256",
        headers={"kid": key_id(signing_key)},
    )

    assert_error(app.http.get("/api/auth/me"), 401, "unauthenticated")
    assert_error(
        app.http.get("/api/auth/me", params={"access_token": in_url}), 401, "unauthenticated"
    )
    assert_error(
        app.http.get("/api/auth/me", headers={"Authorization": token}), 401, "unauthenticated"
    )
    assert app.http.get("/api/auth/me", headers=bearer(token)).status_code == 200


def test_the_previous_signing_key_is_accepted_during_a_rotation(
    app, start_host, signing_key, monkeypatch
):
    previous = remember_secret("previous-key-" + secrets.token_hex(24))
    assert_error(
        app.http.get("/api/auth/me", headers=bearer(app_token(previous))), 401, "unauthenticated"
    )
    # Changing an app setting restarts the app in Azure: a host started with it.
    monkeypatch.setenv("AUTH_SIGNING_KEY_PREVIOUS", previous)
    rotated = start_host(ROOT, run_timers=False)

    assert rotated.http.get("/api/auth/me", headers=bearer(app_token(previous))).status_code == 200
    me = rotated.http.get("/api/auth/me", headers=bearer(app_token(signing_key)))
    assert me.status_code == 200


# ----- Entra (OIDC) tokens from a local JWKS -----


class LocalIssuer:
    """An OpenID issuer on loopback: discovery document and JWKS, with keys made in the test."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.jwks_requests = 0
        self.url = ""

    def _jwks(self) -> dict:
        keys = []
        for kid, key, alg in (("rsa-1", self.rsa, "RS256"), ("ec-1", self.ec, "ES256")):
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
        return {"keys": keys}

    def app(self) -> web.Application:
        async def discovery(request):
            return web.json_response({"issuer": self.url, "jwks_uri": f"{self.url}/keys"})

        async def keys(request):
            self.jwks_requests += 1
            return web.json_response(self._jwks())

        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", discovery)
        app.router.add_get("/keys", keys)
        return app

    def token(self, alg: str = "RS256", kid: str | None = None, **overrides) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": "api://voicea2a",
            "sub": "pairwise-sub",
            "oid": "oid-42",
            "name": "Grace",
            "iat": now,
            "exp": now + 600,
            "roles": ["supervisor"],
        }
        claims.update(overrides)
        key = self.rsa if alg == "RS256" else self.ec
        return jwt.encode(
            claims,
            key,
            algorithm=alg,
            headers={"kid": kid or {"RS256": "rsa-1", "ES256": "ec-1"}[alg]},
        )


@pytest.fixture(scope="module")
def issuer(loop_thread) -> Iterator[LocalIssuer]:
    # On the devhosts' loop: the app reads the keys from a worker thread, never blocking it.
    local = LocalIssuer()
    server = LoopbackServer(local.app())
    local.url = loop_thread.run(server.start())
    yield local
    loop_thread.run(server.stop())


@pytest.fixture
def oidc_app(start_host, azurite_env, signing_key, issuer):
    from voicea2a.auth import reset_oidc_cache

    reset_oidc_cache()
    azurite_env(
        AUTH_SIGNING_KEY=signing_key,
        AUTH_OIDC_ISSUER=issuer.url,
        AUTH_OIDC_AUDIENCE="api://voicea2a",
    )
    return start_host(ROOT, run_timers=False)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_valid_entra_tokens_are_accepted(oidc_app, issuer, alg):
    response = oidc_app.http.get("/api/auth/me", headers=bearer(issuer.token(alg)))

    assert response.status_code == 200
    assert response.json() == {"userId": "oid-42", "name": "Grace", "roles": ["supervisor"]}


def _hs256_signed_with(secret: bytes, claims: dict) -> str:
    """An HS256 token built by hand: PyJWT refuses to use a PEM public key as an HMAC secret."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(b'{"alg":"HS256","typ":"JWT","kid":"rsa-1"}') + "." + b64(json.dumps(claims).encode())
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_entra_token_attacks(oidc_app, issuer):
    now = int(time.time())
    public_pem = issuer.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {
        "iss": issuer.url,
        "aud": "api://voicea2a",
        "sub": "eve",
        "iat": now,
        "exp": now + 600,
    }
    cases = {
        "algorithm confusion": _hs256_signed_with(public_pem, claims),
        "unknown kid": issuer.token(kid="unknown-kid"),
        "wrong audience": issuer.token(aud="api://someone-else"),
        "wrong issuer": issuer.token(iss="https://login.example.invalid/other"),
        "expired": issuer.token(exp=now - 3600, iat=now - 7200),
    }
    for name, token in cases.items():
        response = oidc_app.http.get("/api/auth/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "unauthenticated", name


# ----- roles -----


def test_a_user_cannot_call_supervisor_or_agent_routes(start_host, azurite_env, signing_key):
    azurite_env(AUTH_SIGNING_KEY=signing_key)
    host = start_host(APPS / "roles", run_timers=False)

    for route in ("supervisor-only", "agent-only"):
        user = app_token(signing_key, roles=["user"])
        assert_error(host.http.get(f"/api/{route}", headers=bearer(user)), 403, "forbidden")
    supervisor = app_token(signing_key, roles=["supervisor"])
    agent = app_token(signing_key, roles=["agent"])
    assert host.http.get("/api/supervisor-only", headers=bearer(supervisor)).status_code == 200
    assert host.http.get("/api/agent-only", headers=bearer(agent)).status_code == 200
    assert_error(host.http.get("/api/agent-only", headers=bearer(supervisor)), 403, "forbidden")


# ----- the voice token and session -----


def test_voice_token_in_key_mode(app, voice_key):
    response = app.http.get("/api/voice/token", headers=bearer(dev_token(app)))
    body = response.json()

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert body == {
        "endpoint": "https://voice.example.invalid",
        "apiVersion": "2026-07-15",
        "model": "gpt-realtime",
        "authType": "api-key",
        "token": voice_key,
        "expiresAt": None,
    }


def test_voice_token_needs_a_signed_in_user(app):
    assert_error(app.http.get("/api/voice/token"), 401, "unauthenticated")


def test_voice_not_configured_tells_the_browser_to_use_text_mode(
    start_host, azurite_env, signing_key
):
    azurite_env(
        AUTH_SIGNING_KEY=signing_key,
        AUTH_DEV_LOGIN_ENABLED="true",
        RATE_LIMIT_VOICE_TOKEN_PER_MINUTE="1000",  # other tests sign in from this address too
    )
    host = start_host(ROOT, run_timers=False)

    response = host.http.get("/api/voice/token", headers=bearer(dev_token(host)))

    assert_error(response, 503, "not_configured")
    assert "text mode" in response.json()["error"]["message"]


def test_voice_session_carries_the_tool(app):
    assert_error(app.http.get("/api/voice/session"), 401, "unauthenticated")
    session = app.http.get("/api/voice/session", headers=bearer(dev_token(app))).json()["session"]

    assert session["turn_detection"]["type"] == "azure_semantic_vad"
    assert session["input_audio_noise_reduction"]["type"] == "azure_deep_noise_suppression"
    assert session["input_audio_echo_cancellation"]["type"] == "server_echo_cancellation"
    assert session["input_audio_sampling_rate"] == 24000
    [tool] = session["tools"]
    assert tool["name"] == "send_to_agent_network"
    assert tool["parameters"]["required"] == ["request"]


# ----- rate limits and audit -----


@pytest.fixture
def fresh_limits(azurite):
    """The default limit of 10, with no counts left over from earlier tests in this window."""
    from azure.data.tables import TableServiceClient

    from voicea2a import ratelimit

    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = service.create_table_if_not_exists("ratelimits")  # no test may have counted yet
    for entity in table.list_entities():
        table.delete_entity(entity["PartitionKey"], entity["RowKey"])
    ratelimit.forget_seen()
    return 10


@pytest.mark.parametrize("rate_limit", [10])
def test_voice_token_rate_limit_then_audit(fresh_limits, app, azurite, voice_key, signing_key):
    def burst(attempt: int) -> tuple[str, list[int], httpx.Response]:
        user = f"rate-limited-user-{attempt}"
        token = app_token(signing_key, sub=user)
        statuses = [
            app.http.get("/api/voice/token", headers=bearer(token)).status_code for _ in range(12)
        ]
        return user, statuses, app.http.get("/api/voice/token", headers=bearer(token))

    user, statuses, limited = in_one_rate_window(burst)

    assert statuses == [200] * 10 + [429] * 2
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["error"]["retryAfter"] == int(limited.headers["retry-after"])
    other = app.http.get("/api/voice/token", headers=bearer(app_token(signing_key, sub="other")))
    assert other.status_code == 200

    rows = audit_rows(azurite, user)
    assert sorted(r["outcome"] for r in rows).count("issued") == 10
    assert {r["kind"] for r in rows} == {"voice"}
    assert all(voice_key not in json.dumps(r, default=str) for r in rows)


def audit_rows(azurite, user: str) -> list[dict]:
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = service.get_table_client("audit")
    return [dict(e) for e in table.query_entities("user eq @u", parameters={"u": user})]


@pytest.mark.parametrize("rate_limit", [10])
def test_dev_sign_in_is_rate_limited_per_client_address(fresh_limits, app):
    def burst(attempt: int) -> list[int]:
        # Another loopback address is another client: the devhost reports the peer's address.
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{1 + attempt}")
        with httpx.Client(base_url=app.host.base_url, transport=transport) as client:
            return [
                client.post("/api/auth/dev-token", json={"user": f"u{i}"}).status_code
                for i in range(11)
            ]

    assert in_one_rate_window(burst) == [200] * 10 + [429]
