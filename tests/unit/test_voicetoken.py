import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from tests.waiting import Gate, run_held
from voicea2a.config import VoiceSettings
from voicea2a.errors import NotConfigured, UpstreamUnavailable
from voicea2a.voicetoken import (
    VOICE_LIVE_SCOPE,
    VoiceCredential,
    reset_voice_credential_cache,
    set_voice_token_credential,
    voice_credential,
)

ENDPOINT = "https://voice-res.services.ai.azure.com"
START = 1_800_000_000.0
LIFETIME = 3600


class FakeClock:
    def __init__(self):
        self.now = START

    def __call__(self):
        return self.now


class CountingCredential:
    """A TokenCredential double: counts get_token calls; each token lives LIFETIME seconds.
    Its gate holds a call, as a slow managed identity endpoint would."""

    def __init__(self, clock):
        self.clock = clock
        self.gate = Gate()
        self.calls = []
        self.error = None
        self._lock = threading.Lock()

    def get_token(self, *scopes, **kwargs):
        with self._lock:
            self.calls.append(scopes)
            number = len(self.calls)
        self.gate.pass_through()
        if self.error is not None:
            raise self.error
        return AccessToken(f"entra-token-{number}", int(self.clock()) + LIFETIME)


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    set_voice_token_credential(None)
    yield
    set_voice_token_credential(None)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def credential(clock):
    cred = CountingCredential(clock)
    set_voice_token_credential(cred, clock=clock)
    return cred


def entra(client_id="22222222-3333-4444-5555-666666666666"):
    return VoiceSettings(endpoint=ENDPOINT, auth_mode="entra", token_identity_client_id=client_id)


async def test_entra_mode_returns_a_bearer_token_for_the_ai_scope(credential):
    result = await voice_credential(entra())
    assert result == VoiceCredential(
        "bearer", "entra-token-1", datetime.fromtimestamp(START + LIFETIME, UTC)
    )
    assert credential.calls == [(VOICE_LIVE_SCOPE,)]
    assert VOICE_LIVE_SCOPE == "https://ai.azure.com/.default"


async def test_100_concurrent_requests_make_one_get_token_call(credential):
    results = await run_held(credential.gate, (voice_credential(entra()) for _ in range(100)))
    assert {r.token for r in results} == {"entra-token-1"}
    assert len(credential.calls) == 1


async def test_the_token_is_cached_until_five_minutes_before_expiry(credential, clock):
    assert (await voice_credential(entra())).token == "entra-token-1"
    clock.now = START + LIFETIME - 301
    assert (await voice_credential(entra())).token == "entra-token-1"
    assert len(credential.calls) == 1
    clock.now = START + LIFETIME - 300
    assert (await voice_credential(entra())).token == "entra-token-2"
    assert len(credential.calls) == 2


async def test_concurrent_refreshes_near_expiry_make_one_call(credential, clock):
    await voice_credential(entra())
    clock.now = START + LIFETIME - 120
    results = await run_held(credential.gate, (voice_credential(entra()) for _ in range(100)))
    assert {r.token for r in results} == {"entra-token-2"}
    assert len(credential.calls) == 2


async def test_reset_forgets_the_token(credential):
    await voice_credential(entra())
    reset_voice_credential_cache()
    assert (await voice_credential(entra())).token == "entra-token-2"


async def test_a_credential_failure_is_upstream_unavailable_without_token_text(credential):
    credential.error = ClientAuthenticationError(
        "ManagedIdentityCredential authentication failed: entra-token-leak"
    )
    results = await run_held(credential.gate, (voice_credential(entra()) for _ in range(10)))
    assert all(isinstance(r, UpstreamUnavailable) for r in results)
    assert len(credential.calls) == 1
    err = results[0]
    assert err.status == 503
    assert err.message == "Voice Live credentials are unavailable."
    assert "entra-token" not in str(err) and "entra-token" not in repr(err)


async def test_a_failed_refresh_keeps_a_still_usable_token(credential, clock):
    await voice_credential(entra())
    credential.error = ClientAuthenticationError("identity endpoint down")
    clock.now = START + LIFETIME - 200  # inside the refresh window, still valid
    assert (await voice_credential(entra())).token == "entra-token-1"
    clock.now = START + LIFETIME - 30  # too close to expiry to hand out
    with pytest.raises(UpstreamUnavailable):
        await voice_credential(entra())
    credential.error = None
    assert (await voice_credential(entra())).token == "entra-token-4"


def test_the_token_is_hidden_from_repr():
    cred = VoiceCredential("bearer", "entra-token-secret", None)
    assert "entra-token-secret" not in repr(cred)


async def test_key_mode_returns_the_api_key(app_env, monkeypatch):
    monkeypatch.setenv("VOICE_LIVE_API_KEY", "voice-live-key-value")
    settings = app_env(VOICE_LIVE_ENDPOINT=ENDPOINT, VOICE_LIVE_AUTH_MODE="key")
    result = await voice_credential(settings.voice)
    assert result == VoiceCredential("api-key", "voice-live-key-value", None)


async def test_key_mode_without_a_key_is_not_configured(app_env, monkeypatch):
    monkeypatch.delenv("VOICE_LIVE_API_KEY", raising=False)
    settings = app_env(VOICE_LIVE_ENDPOINT=ENDPOINT, VOICE_LIVE_AUTH_MODE="key")
    with pytest.raises(NotConfigured, match="VOICE_LIVE_API_KEY"):
        await voice_credential(settings.voice)


@pytest.mark.parametrize("mode", ["entra", "key"])
async def test_no_endpoint_is_not_configured(app_env, credential, mode):
    settings = app_env(VOICE_LIVE_AUTH_MODE=mode)
    with pytest.raises(NotConfigured) as info:
        await voice_credential(settings.voice)
    assert info.value.message == "Voice is not configured; use text mode."
    assert info.value.status == 503
    assert credential.calls == []


async def test_in_azure_entra_mode_needs_the_dedicated_identity(app_env):
    settings = app_env(VOICE_LIVE_ENDPOINT=ENDPOINT, WEBSITE_INSTANCE_ID="abc123")
    assert settings.voice.token_identity_client_id is None
    with pytest.raises(NotConfigured, match="VOICE_TOKEN_IDENTITY_CLIENT_ID"):
        await voice_credential(settings.voice)


async def test_in_azure_the_token_comes_from_the_named_managed_identity(app_env, monkeypatch):
    from azure.identity import ManagedIdentityCredential

    created = []

    class RecordingIdentity(ManagedIdentityCredential):
        def __init__(self, **kwargs):
            created.append(kwargs)

        def get_token(self, *scopes, **kwargs):
            return AccessToken("mi-token", int(time.time()) + LIFETIME)

    monkeypatch.setattr("azure.identity.ManagedIdentityCredential", RecordingIdentity)
    client_id = "33333333-4444-5555-6666-777777777777"
    settings = app_env(
        VOICE_LIVE_ENDPOINT=ENDPOINT,
        VOICE_TOKEN_IDENTITY_CLIENT_ID=client_id,
        WEBSITE_INSTANCE_ID="abc123",
    )
    assert (await voice_credential(settings.voice)).token == "mi-token"
    assert (await voice_credential(settings.voice)).token == "mi-token"
    assert created == [{"client_id": client_id}]  # one credential per process


async def test_a_cancelled_caller_does_not_cancel_the_shared_refresh(credential):
    credential.gate.close()
    first = asyncio.create_task(voice_credential(entra()))
    await credential.gate.wait_entered()  # the first caller's refresh is in flight
    second = asyncio.create_task(voice_credential(entra()))
    await asyncio.sleep(0)  # one turn of the loop: the second caller joins that refresh
    first.cancel()
    credential.gate.open()
    assert (await second).token == "entra-token-1"
    assert len(credential.calls) == 1
