import pytest

from voicea2a import secrets
from voicea2a.errors import NotConfigured, UpstreamUnavailable
from voicea2a.secrets import (
    KeyVaultSecretSource,
    get_secret,
    key_vault_source,
    secret_env_name,
    set_key_vault_source,
)


class FakeSource:
    def __init__(self, values):
        self.values = values
        self.asked = []

    def get(self, name):
        self.asked.append(name)
        return self.values.get(name)


@pytest.mark.parametrize(
    ("name", "env"),
    [("auth-signing-key", "AUTH_SIGNING_KEY"), ("voice-live-key", "VOICE_LIVE_KEY"), ("a", "A"),
     ("key2", "KEY2")],
)  # fmt: skip
def test_kebab_to_upper_snake(name, env):
    assert secret_env_name(name) == env


@pytest.mark.parametrize("name", ["AUTH_SIGNING_KEY", "auth_signing_key", "-a", "a-", "a--b", ""])
def test_names_must_be_kebab_case(name):
    with pytest.raises(ValueError):
        secret_env_name(name)


def test_env_path(app_env, monkeypatch):
    app_env(AUTH_SIGNING_KEY="local-only-value-0123456789abcdef")
    assert get_secret("auth-signing-key") == "local-only-value-0123456789abcdef"


def test_missing_env_secret_names_the_setting_not_a_value(app_env, monkeypatch):
    app_env()
    with pytest.raises(NotConfigured) as info:
        get_secret("auth-signing-key")
    assert "AUTH_SIGNING_KEY" in info.value.message
    monkeypatch.setenv("AUTH_SIGNING_KEY", "")
    with pytest.raises(NotConfigured):
        get_secret("auth-signing-key")


def test_key_vault_is_chosen_when_key_vault_url_is_set(app_env):
    fake = FakeSource({"auth-signing-key": "from-key-vault"})
    set_key_vault_source(fake)
    app_env(KEY_VAULT_URL="https://kv.vault.azure.net", AUTH_SIGNING_KEY="from-env")
    assert get_secret("auth-signing-key") == "from-key-vault"
    assert fake.asked == ["auth-signing-key"]


def test_env_is_chosen_when_key_vault_url_is_unset(app_env):
    fake = FakeSource({"auth-signing-key": "from-key-vault"})
    set_key_vault_source(fake)
    app_env(AUTH_SIGNING_KEY="from-env")
    assert get_secret("auth-signing-key") == "from-env"
    assert fake.asked == []


def test_missing_key_vault_secret_names_the_secret(app_env):
    set_key_vault_source(FakeSource({}))
    app_env(KEY_VAULT_URL="https://kv.vault.azure.net", AUTH_SIGNING_KEY="from-env")
    with pytest.raises(NotConfigured, match="Key Vault secret 'auth-signing-key'"):
        get_secret("auth-signing-key")


def test_real_key_vault_source_is_built_lazily_once(app_env, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
    app_env(KEY_VAULT_URL="https://kv.vault.azure.net")
    source = key_vault_source("https://kv.vault.azure.net")
    assert isinstance(source, KeyVaultSecretSource)
    assert source is key_vault_source("https://kv.vault.azure.net")
    assert source._client is None  # no client, credential or network until the first get


def test_key_vault_outage_is_upstream_unavailable_without_details(monkeypatch):
    from azure.core.exceptions import ResourceNotFoundError, ServiceRequestError

    class Client:
        def __init__(self, exc):
            self.exc = exc

        def get_secret(self, name):
            raise self.exc

    source = KeyVaultSecretSource("https://kv.vault.azure.net")
    source._client = Client(ResourceNotFoundError("gone"))
    assert source.get("auth-signing-key") is None
    source._client = Client(ServiceRequestError("dns failure for kv.vault.azure.net"))
    with pytest.raises(UpstreamUnavailable) as info:
        source.get("auth-signing-key")
    assert "dns" not in info.value.message


def test_the_seam_is_reset_between_tests():
    assert secrets._key_vault_source is None
