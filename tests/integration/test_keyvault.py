"""Key Vault secrets through the real SecretClient pipeline, against a transport-level double.

The double answers the Key Vault REST API (challenge 401, GET secret, 404, 429, 500, connection
errors) so the SDK's own challenge-auth and retry policies run. The client keeps the production
retry settings; the double's `sleep` records the SDK's backoff instead of waiting, which keeps the
tests fast while still showing that the SDK retried and honoured Retry-After.
"""

import asyncio
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import RestHttpClientTransportResponse

from tests.waiting import Gate, run_held
from voicea2a.errors import NotConfigured, UpstreamUnavailable
from voicea2a.secrets import (
    KeyVaultSecretSource,
    get_optional_secret,
    get_secret,
    reset_secret_cache,
    set_key_vault_source,
)

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1Qi.fake-access-token-for-the-vault.sig"
VALUE = "kv-secret-value-7f3a9c1e5b"
ROTATED = "kv-rotated-value-2d8e4f6a0c"
TTL = 300.0
GRACE = 600.0


class _WireResponse:
    """What http.client hands azure-core's response class: status, reason, headers, body."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self._headers = headers
        self._body = body

    def getheaders(self):
        return list(self._headers.items())

    def read(self):
        return self._body

    def close(self):
        pass


class FakeKeyVault(HttpTransport):
    """The Key Vault secrets REST API, enough of it for GET secret, scriptable to fail."""

    def __init__(self, vault_url):
        self.vault_host = urlsplit(vault_url).netloc
        self.secrets = {}
        self.script = []  # behaviours for the next authenticated requests, then `failing`
        self.failing = None  # a behaviour applied to every authenticated request while set
        self.gate = Gate()  # closed, it holds every request: Key Vault taking its time
        self.requests = []
        self.sleeps = []
        self._lock = threading.Lock()

    # -- the HttpTransport interface --
    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        assert url.scheme == "https" and url.netloc == self.vault_host
        assert parse_qs(url.query)["api-version"]
        authorized = request.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"
        with self._lock:
            self.requests.append((request.method, url.path, authorized))
            behaviour = None
            if authorized:
                behaviour = self.script.pop(0) if self.script else self.failing
        self.gate.pass_through()
        if not authorized or behaviour == "reject-token":
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                'resource="https://vault.azure.net"'
            )
            message = "AKV10000: Request is missing a Bearer or PoP token."
            return self._error(
                request, 401, "Unauthorized", message, {"WWW-Authenticate": challenge}
            )
        if behaviour == "connection-error":
            raise ServiceRequestError("Failed to establish a new connection: Connection refused")
        if behaviour == "429":
            message = "Request was not processed because too many requests were received."
            return self._error(request, 429, "Throttled", message, {"Retry-After": "2"})
        if behaviour == "500":
            return self._error(request, 500, "InternalServerError", "Oops.")
        assert behaviour is None, behaviour
        return self._get_secret(request, url.path)

    def open(self):
        pass

    def close(self):
        pass

    def __exit__(self, *args):
        pass

    def sleep(self, duration):
        self.sleeps.append(duration)

    # -- helpers --
    @property
    def secret_gets(self):
        """Authenticated GET /secrets/... requests, the ones Key Vault bills and throttles."""
        return [r for r in self.requests if r[0] == "GET" and r[2]]

    @property
    def challenges(self):
        return [r for r in self.requests if not r[2]]

    def _get_secret(self, request, path):
        assert request.method == "GET"
        parts = [p for p in path.split("/") if p]
        assert parts[0] == "secrets" and 2 <= len(parts) <= 3, path
        name = parts[1]
        if name not in self.secrets:
            message = f"A secret with (name/id) {name} was not found in this key vault."
            return self._respond(
                request, 404, {"error": {"code": "SecretNotFound", "message": message}}
            )
        value, version = self.secrets[name]
        body = {
            "value": value,
            "id": f"https://{self.vault_host}/secrets/{name}/{version}",
            "attributes": {
                "enabled": True,
                "created": 1493938410,
                "updated": 1493938410,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
            "tags": {},
        }
        return self._respond(request, 200, body)

    def set(self, name, value):
        self.secrets[name] = (value, uuid.uuid4().hex)

    @classmethod
    def _error(cls, request, status, code, message, headers=None):
        return cls._respond(request, status, {"error": {"code": code, "message": message}}, headers)

    @staticmethod
    def _respond(request, status, body, headers=None):
        data = json.dumps(body).encode()
        all_headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Content-Length": str(len(data)),
            "x-ms-keyvault-service-version": "1.9.2557.1",
            **(headers or {}),
        }
        wire = _WireResponse(status, "", all_headers, data)
        return RestHttpClientTransportResponse(request=request, internal_response=wire)


class FakeCredential:
    """A TokenCredential that records what the challenge policy asked for."""

    def __init__(self):
        self.calls = []
        self.error = None

    def get_token(self, *scopes, claims=None, tenant_id=None, enable_cae=False, **kwargs):
        self.calls.append((scopes, tenant_id))
        if self.error is not None:
            raise self.error
        return AccessToken(ACCESS_TOKEN, int(time.time()) + 3600)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@dataclass
class Vault:
    url: str
    kv: FakeKeyVault
    credential: FakeCredential
    clock: FakeClock
    source: KeyVaultSecretSource


@pytest.fixture
def vault(app_env):
    # A fresh vault host per test: the SDK caches challenges per host, process-wide.
    url = f"https://kv-{uuid.uuid4().hex[:12]}.vault.azure.net"
    kv = FakeKeyVault(url)
    kv.set("auth-signing-key", VALUE)
    credential = FakeCredential()
    clock = FakeClock()
    source = KeyVaultSecretSource(
        url,
        ttl_seconds=TTL,
        grace_seconds=GRACE,
        credential=credential,
        transport=kv,
        clock=clock,
    )
    set_key_vault_source(source)
    app_env(KEY_VAULT_URL=url, AUTH_SIGNING_KEY="from-env-never-used")
    return Vault(url, kv, credential, clock, source)


def fail_with(vault, kind):
    """Make every following Key Vault call fail in the way `kind` names."""
    if kind == "credential":
        # Key Vault rejects the cached token, and the credential cannot mint a new one.
        vault.kv.failing = "reject-token"
        vault.credential.error = ClientAuthenticationError("ManagedIdentityCredential: no token")
    else:
        vault.kv.failing = kind


def attempts(vault):
    """Requests that reached the vault, plus token requests (a failing credential stops those)."""
    return len(vault.kv.requests) + len(vault.credential.calls)


FAILURES = ["429", "500", "connection-error", "credential"]


async def test_the_real_client_does_the_challenge_and_reads_the_secret(vault):
    assert await get_secret("auth-signing-key") == VALUE
    first, second = vault.kv.requests
    assert first == ("GET", "/secrets/auth-signing-key/", False)  # unauthenticated: challenged
    assert second == ("GET", "/secrets/auth-signing-key/", True)
    assert vault.credential.calls == [(("https://vault.azure.net/.default",), TENANT)]


async def test_cached_reads_make_one_rest_call(vault):
    for _ in range(20):
        assert await get_secret("auth-signing-key") == VALUE
    assert len(vault.kv.secret_gets) == 1
    assert len(vault.credential.calls) == 1


async def test_concurrent_misses_share_one_rest_call(vault):
    vault.kv.set("voice-live-api-key", "voice-key-value")
    values = await run_held(
        vault.kv.gate,
        [
            *(get_secret("auth-signing-key") for _ in range(50)),
            *(get_secret("voice-live-api-key") for _ in range(50)),
        ],
    )
    assert values == [VALUE] * 50 + ["voice-key-value"] * 50
    assert sorted(path for _, path, _ in vault.kv.secret_gets) == [
        "/secrets/auth-signing-key/",
        "/secrets/voice-live-api-key/",
    ]


async def test_a_rotated_value_is_visible_after_the_ttl(vault):
    assert await get_secret("auth-signing-key") == VALUE
    vault.kv.set("auth-signing-key", ROTATED)
    vault.clock.advance(TTL - 1)
    assert await get_secret("auth-signing-key") == VALUE
    vault.clock.advance(1)
    assert await get_secret("auth-signing-key") == ROTATED
    assert len(vault.kv.secret_gets) == 2


async def test_reset_secret_cache_forces_a_fresh_read(vault):
    assert await get_secret("auth-signing-key") == VALUE
    vault.kv.set("auth-signing-key", ROTATED)
    reset_secret_cache()
    assert await get_secret("auth-signing-key") == ROTATED


async def test_throttled_then_success_honours_retry_after(vault):
    vault.kv.script = ["429"]
    assert await get_secret("auth-signing-key") == VALUE
    assert len(vault.kv.secret_gets) == 2
    assert vault.kv.sleeps == [2.0]  # the SDK waited as Key Vault asked (recorded, not slept)


async def test_a_transient_500_is_retried_once_by_the_sdk(vault):
    vault.kv.script = ["500"]
    assert await get_secret("auth-signing-key") == VALUE
    assert len(vault.kv.secret_gets) == 2
    assert vault.kv.sleeps == []  # azure-core's first retry has no backoff


@pytest.mark.parametrize("kind", FAILURES)
async def test_an_outage_is_served_from_cache_during_grace_then_503(vault, kind, caplog):
    assert await get_secret("auth-signing-key") == VALUE
    fail_with(vault, kind)

    vault.clock.advance(TTL)
    with caplog.at_level(logging.WARNING, logger="voicea2a.secrets"):
        assert await get_secret("auth-signing-key") == VALUE
    assert "Key Vault is unavailable" in caplog.text
    calls = attempts(vault)

    # Right after a failure the cached value is served without another doomed call.
    vault.clock.advance(10)
    assert await get_secret("auth-signing-key") == VALUE
    assert attempts(vault) == calls

    # Still within TTL + grace: Key Vault is tried again, fails, the cached value still serves.
    vault.clock.advance(GRACE - 11)
    assert await get_secret("auth-signing-key") == VALUE
    assert attempts(vault) > calls

    vault.clock.advance(1)  # TTL + grace after the value was read
    with pytest.raises(UpstreamUnavailable) as info:
        await get_secret("auth-signing-key")
    assert info.value.message == "Key Vault is unavailable."
    assert info.value.status == 503

    # Key Vault is back: the next call reads it.
    vault.kv.failing = None
    vault.credential.error = None
    vault.kv.set("auth-signing-key", ROTATED)
    assert await get_secret("auth-signing-key") == ROTATED


@pytest.mark.parametrize("kind", FAILURES)
async def test_a_failure_with_a_cold_cache_is_503_at_once(vault, kind):
    if kind == "credential":
        vault.credential.error = ClientAuthenticationError("ManagedIdentityCredential: no token")
    else:
        vault.kv.failing = kind
    with pytest.raises(UpstreamUnavailable, match="Key Vault is unavailable"):
        await get_secret("auth-signing-key")
    assert len(vault.kv.secret_gets) <= 2  # one attempt and one SDK retry at most


async def test_concurrent_callers_share_one_failure(vault):
    vault.kv.failing = "500"
    results = await run_held(vault.kv.gate, (get_secret("auth-signing-key") for _ in range(20)))
    assert all(isinstance(r, UpstreamUnavailable) for r in results)
    assert len(vault.kv.secret_gets) == 2  # one call, retried once by the SDK


async def test_a_missing_secret_is_not_configured_and_cached(vault):
    with pytest.raises(NotConfigured) as info:
        await get_secret("voice-live-api-key")
    assert info.value.message == "The Key Vault secret 'voice-live-api-key' is not configured."
    assert info.value.code == "not_configured"
    assert await get_optional_secret("voice-live-api-key") is None
    assert len(vault.kv.secret_gets) == 1  # absence is cached too (optional secrets are common)


async def test_a_secret_deleted_in_key_vault_disappears_after_the_ttl(vault):
    assert await get_secret("auth-signing-key") == VALUE
    del vault.kv.secrets["auth-signing-key"]
    vault.clock.advance(TTL)
    assert await get_optional_secret("auth-signing-key") is None


async def test_secret_values_and_tokens_never_reach_logs_or_errors(vault, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []
    assert await get_secret("auth-signing-key") == VALUE
    vault.kv.failing = "500"
    vault.clock.advance(TTL)
    assert await get_secret("auth-signing-key") == VALUE
    vault.clock.advance(GRACE)
    with pytest.raises(UpstreamUnavailable) as outage:
        await get_secret("auth-signing-key")
    errors.append(outage.value)
    vault.kv.failing = None
    with pytest.raises(NotConfigured) as missing:
        await get_secret("voice-live-api-key")
    errors.append(missing.value)

    assert caplog.records  # the SDK and the cache did log
    for text in (VALUE, ACCESS_TOKEN):
        assert text not in caplog.text
        for err in errors:
            chain = [err, err.__cause__, err.__context__]
            assert all(text not in str(e) and text not in repr(e) for e in chain if e)
    assert VALUE not in repr(vault.source._entries)


async def test_a_cancelled_caller_does_not_cancel_the_shared_call(vault):
    vault.kv.gate.close()
    first = asyncio.create_task(get_secret("auth-signing-key"))
    await vault.kv.gate.wait_entered()  # the first caller's Key Vault call is in flight
    second = asyncio.create_task(get_secret("auth-signing-key"))
    await asyncio.sleep(0)  # one turn of the loop: the second caller joins that call
    first.cancel()
    vault.kv.gate.open()
    assert await second == VALUE
    assert first.cancelled()
    assert len(vault.kv.secret_gets) == 1
