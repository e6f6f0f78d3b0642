"""Key Vault throttling or down, seen through the app's HTTP routes on the running devhost.

`GET /api/auth/me` verifies the caller's token with the Key Vault secret `auth-signing-key`
(KEY_VAULT_URL set); the vault is the transport-level double of tests/integration/test_keyvault.py
behind the real SecretClient, injected through the secrets seam, with a fake clock for the
cache's TTL and grace.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import remember_secret
from tests.integration.test_keyvault import GRACE, TTL, FakeClock, FakeCredential, FakeKeyVault
from tests.system import app_token, error_of, start_system, stop_system
from voicea2a.secrets import KeyVaultSecretSource, set_key_vault_source

pytestmark = pytest.mark.azurite

VAULT_KEY = remember_secret("faults-vault-signing-key-6f1d0c9a8b7e6d5c4b3a29180716")
FAILURES = {"throttled": "429", "down": "connection-error", "failing": "500"}


class Vault:
    def __init__(self) -> None:
        # A fresh vault host per test: the SDK caches challenges per host, process-wide.
        self.url = f"https://kv-{uuid.uuid4().hex[:12]}.vault.azure.net"
        self.kv = FakeKeyVault(self.url)
        self.kv.set("auth-signing-key", VAULT_KEY)
        self.clock = FakeClock()
        self.source = KeyVaultSecretSource(
            self.url,
            ttl_seconds=TTL,
            grace_seconds=GRACE,
            credential=FakeCredential(),
            transport=self.kv,
            clock=self.clock,
        )


@pytest.fixture
def vault_system(start_host, loop_thread, azurite_env, azurite):
    vault = Vault()
    settings = {
        "KEY_VAULT_URL": vault.url,
        # Read only without KEY_VAULT_URL: a token signed with it must be refused.
        "AUTH_SIGNING_KEY": remember_secret("faults-env-key-never-used-0123456789abcdef"),
    }
    system = start_system(
        start_host,
        loop_thread,
        azurite_env,
        azurite.connection_string,
        settings=settings,
        with_agents=False,
        with_pubsub=False,
    )
    set_key_vault_source(vault.source)
    yield system, vault
    stop_system(system)


def me(system, key: str = VAULT_KEY):
    headers = {"Authorization": f"Bearer {app_token(key, 'kv-user')}"}
    started = time.monotonic()
    response = system.app.http.get("/api/auth/me", headers=headers)
    return response, time.monotonic() - started


def assert_unavailable(response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    error = error_of(response)
    assert error["code"] == "upstream_unavailable" and error["retryable"] is True
    assert VAULT_KEY not in response.text
    assert elapsed < 5  # a prompt 503, not a hung request


def test_the_signing_key_comes_from_the_vault(vault_system):
    system, vault = vault_system

    response, _ = me(system)
    assert response.status_code == 200, response.text
    assert response.json()["userId"] == "kv-user"
    # The environment's key is not the signing key once KEY_VAULT_URL is set.
    refused, _ = me(system, system.key)
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "unauthenticated"


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_cold_cache_and_a_failing_vault_is_a_prompt_503(vault_system, failure):
    system, vault = vault_system
    vault.kv.failing = FAILURES[failure]

    assert_unavailable(*me(system))
    dev = system.app.http.post("/api/auth/dev-token", json={"user": "kv-user"})
    assert dev.status_code == 503 and error_of(dev)["code"] == "upstream_unavailable"
    # Routes that need no secret are untouched, and the vault is asked again next time.
    assert system.app.http.get("/api/health").status_code == 200
    calls = len(vault.kv.secret_gets)
    assert_unavailable(*me(system))
    assert len(vault.kv.secret_gets) > calls

    vault.kv.failing = None  # the vault is back: the next request reads it
    response, _ = me(system)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_warm_cache_rides_out_the_outage_until_ttl_plus_grace(vault_system, failure):
    system, vault = vault_system
    assert me(system)[0].status_code == 200  # the cache is warm
    vault.kv.failing = FAILURES[failure]
    calls = len(vault.kv.secret_gets)

    # Within the TTL the vault is not even asked.
    vault.clock.advance(TTL - 1)
    assert me(system)[0].status_code == 200
    assert len(vault.kv.secret_gets) == calls

    # Past the TTL the refresh fails and the cached value is served.
    vault.clock.advance(2)
    response, elapsed = me(system)
    assert response.status_code == 200, response.text
    assert elapsed < 5
    assert len(vault.kv.secret_gets) > calls

    # TTL + grace after the read: nothing is served any more.
    vault.clock.advance(GRACE)
    assert_unavailable(*me(system))

    vault.kv.failing = None
    assert me(system)[0].status_code == 200
