import pytest

from voicea2a import secrets
from voicea2a.errors import NotConfigured
from voicea2a.identity import azure_credential
from voicea2a.secrets import (
    KeyVaultSecretSource,
    get_optional_secret,
    get_secret,
    key_vault_source,
    secret_env_name,
    set_key_vault_source,
)


class FakeSource:
    def __init__(self, values):
        self.values = values
        self.asked = []

    async def get(self, name):
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


@pytest.mark.parametrize("name", ["AUTH_SIGNING_KEY", "a--b"])
async def test_get_secret_checks_the_name_on_both_paths(app_env, name):
    app_env()
    with pytest.raises(ValueError):
        await get_secret(name)
    set_key_vault_source(FakeSource({}))
    app_env(KEY_VAULT_URL="https://kv.vault.azure.net")
    with pytest.raises(ValueError):
        await get_optional_secret(name)


async def test_env_path(app_env):
    app_env(AUTH_SIGNING_KEY="local-only-value-0123456789abcdef")
    assert await get_secret("auth-signing-key") == "local-only-value-0123456789abcdef"


async def test_env_path_reads_the_environment_each_time(app_env, monkeypatch):
    app_env(AUTH_SIGNING_KEY="first")
    assert await get_secret("auth-signing-key") == "first"
    monkeypatch.setenv("AUTH_SIGNING_KEY", "second")
    assert await get_secret("auth-signing-key") == "second"


async def test_missing_env_secret_names_the_setting_not_a_value(app_env, monkeypatch):
    app_env()
    with pytest.raises(NotConfigured) as info:
        await get_secret("auth-signing-key")
    assert info.value.message == "The setting AUTH_SIGNING_KEY is not configured."
    monkeypatch.setenv("AUTH_SIGNING_KEY", "")
    with pytest.raises(NotConfigured):
        await get_secret("auth-signing-key")


async def test_optional_secret_is_none_when_missing(app_env, monkeypatch):
    app_env()
    assert await get_optional_secret("auth-signing-key-previous") is None
    monkeypatch.setenv("AUTH_SIGNING_KEY_PREVIOUS", "old-value")
    assert await get_optional_secret("auth-signing-key-previous") == "old-value"


async def test_key_vault_is_chosen_when_key_vault_url_is_set(app_env):
    fake = FakeSource({"auth-signing-key": "from-key-vault"})
    set_key_vault_source(fake)
    app_env(KEY_VAULT_URL="https://kv.vault.azure.net", AUTH_SIGNING_KEY="from-env")
    assert await get_secret("auth-signing-key") == "from-key-vault"
    assert fake.asked == ["auth-signing-key"]


async def test_env_is_chosen_when_key_vault_url_is_unset(app_env):
    fake = FakeSource({"auth-signing-key": "from-key-vault"})
    set_key_vault_source(fake)
    app_env(AUTH_SIGNING_KEY="from-env")
    assert await get_secret("auth-signing-key") == "from-env"
    assert fake.asked == []


async def test_missing_key_vault_secret_names_the_secret(app_env):
    set_key_vault_source(FakeSource({}))
    app_env(KEY_VAULT_URL="https://kv.vault.azure.net", AUTH_SIGNING_KEY="from-env")
    with pytest.raises(NotConfigured) as info:
        await get_secret("auth-signing-key")
    assert info.value.message == "The Key Vault secret 'auth-signing-key' is not configured."
    assert await get_optional_secret("auth-signing-key") is None


def test_real_key_vault_source_is_built_lazily_once(app_env):
    app_env(
        KEY_VAULT_URL="https://kv.vault.azure.net",
        SECRET_CACHE_TTL_SECONDS="60",
        SECRET_CACHE_GRACE_SECONDS="120",
    )
    source = key_vault_source("https://kv.vault.azure.net")
    assert isinstance(source, KeyVaultSecretSource)
    assert source is key_vault_source("https://kv.vault.azure.net")
    assert (source._ttl, source._grace) == (60.0, 120.0)
    assert source._client is None  # no client, credential or network until the first get


def test_in_azure_the_credential_is_the_managed_identity(app_env):
    from azure.identity import ManagedIdentityCredential

    app_env(WEBSITE_INSTANCE_ID="abc123")
    credential = azure_credential("11111111-2222-3333-4444-555555555555")
    assert isinstance(credential, ManagedIdentityCredential)


def test_outside_azure_the_credential_is_the_developer_chain(app_env):
    from azure.identity import DefaultAzureCredential

    app_env()
    assert isinstance(azure_credential(None), DefaultAzureCredential)


def test_the_seam_is_reset_between_tests():
    assert secrets._key_vault_source is None
