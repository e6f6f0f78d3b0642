"""Key Vault throttling or down, seen through the app's HTTP routes on the running devhost.

`GET /api/auth/me` verifies the caller's token with the Key Vault secret `auth-signing-key`
(KEY_VAULT_URL set); the vault is the transport-level double of tests/integration/test_keyvault.py
behind the real SecretClient, injected through the secrets seam, with a fake clock for the
cache's TTL and grace.
"""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest

from tests.conftest import remember_secret
from tests.integration.test_keyvault import GRACE, TTL, FakeClock, FakeCredential, FakeKeyVault
from tests.system import app_token, error_of
from voicea2a.secrets import KeyVaultSecretSource, set_key_vault_source

# The vault double and its fake clock reach the app through the secrets seam of this process
# (set_key_vault_source): the app must run here, whatever FUNCTIONS_WORKER_PROCESS_COUNT says.
pytestmark = [pytest.mark.azurite, pytest.mark.in_process_worker]

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
        # The last request's Key Vault calls (per secret path) and the SDK's back-off.
        self.calls: Counter[str] = Counter()
        self.backoff = 0.0


@pytest.fixture
def vault() -> Vault:
    return Vault()


@pytest.fixture
def overrides(vault) -> dict[str, str]:
    return {
        "KEY_VAULT_URL": vault.url,
        # Read only without KEY_VAULT_URL: a token signed with it must be refused.
        "AUTH_SIGNING_KEY": remember_secret("faults-env-key-never-used-0123456789abcdef"),
    }


@pytest.fixture
def system_options() -> dict:
    return {"with_agents": False, "with_pubsub": False}


@pytest.fixture
def vault_system(system, vault):
    set_key_vault_source(vault.source)
    return system, vault


def me(system, vault: Vault, key: str = VAULT_KEY) -> httpx.Response:
    """GET /api/auth/me; the vault's calls during it go to `vault.calls`."""
    headers = {"Authorization": f"Bearer {app_token(key, 'kv-user')}"}
    gets, sleeps = len(vault.kv.secret_gets), len(vault.kv.sleeps)
    response = system.app.http.get("/api/auth/me", headers=headers)
    vault.calls = Counter(path for _, path, _ in vault.kv.secret_gets[gets:])
    vault.backoff = sum(vault.kv.sleeps[sleeps:])
    return response


def assert_prompt(vault: Vault) -> None:
    """What the last request cost: per secret, one Key Vault call and one SDK retry at most,
    with no more back-off than the vault asked for (Retry-After: 2): a failing vault is
    answered for at once, never waited on."""
    assert max(vault.calls.values()) <= 2, vault.calls
    assert vault.backoff <= 2 * len(vault.calls), vault.kv.sleeps


def assert_unavailable(response, vault: Vault) -> None:
    assert response.status_code == 503, response.text
    error = error_of(response)
    assert error["code"] == "upstream_unavailable" and error["retryable"] is True
    assert VAULT_KEY not in response.text
    assert_prompt(vault)


def test_the_signing_key_comes_from_the_vault(vault_system):
    system, vault = vault_system

    response = me(system, vault)
    assert response.status_code == 200, response.text
    assert response.json()["userId"] == "kv-user"
    # The environment's key is not the signing key once KEY_VAULT_URL is set.
    refused = me(system, vault, system.key)
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "unauthenticated"


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_cold_cache_and_a_failing_vault_is_a_prompt_503(vault_system, failure):
    system, vault = vault_system
    vault.kv.failing = FAILURES[failure]

    assert_unavailable(me(system, vault), vault)
    dev = system.app.http.post("/api/auth/dev-token", json={"user": "kv-user"})
    assert dev.status_code == 503 and error_of(dev)["code"] == "upstream_unavailable"
    # Routes that need no secret are untouched, and the vault is asked again next time.
    assert system.app.http.get("/api/health").status_code == 200
    assert_unavailable(me(system, vault), vault)
    assert vault.calls

    vault.kv.failing = None  # the vault is back: the next request reads it
    response = me(system, vault)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_warm_cache_rides_out_the_outage_until_ttl_plus_grace(vault_system, failure):
    system, vault = vault_system
    assert me(system, vault).status_code == 200  # the cache is warm
    vault.kv.failing = FAILURES[failure]

    # Within the TTL the vault is not even asked.
    vault.clock.advance(TTL - 1)
    assert me(system, vault).status_code == 200
    assert not vault.calls

    # Past the TTL the refresh fails and the cached value is served.
    vault.clock.advance(2)
    response = me(system, vault)
    assert response.status_code == 200, response.text
    assert vault.calls
    assert_prompt(vault)

    # TTL + grace after the read: nothing is served any more.
    vault.clock.advance(GRACE)
    assert_unavailable(me(system, vault), vault)

    vault.kv.failing = None
    assert me(system, vault).status_code == 200
