import json
import tomllib
from pathlib import Path

import pytest

from voicea2a.config import (
    DEFAULT_APP_VERSION,
    SETTING_NAMES,
    ConfigError,
    get_settings,
    load_settings,
    reset_settings,
)

ROOT = Path(__file__).resolve().parents[2]
BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
WPS = "Endpoint=https://x.webpubsub.azure.com;AccessKey=c2VjcmV0a2V5;Version=1.0;"


def load(**values):
    return load_settings({**BASE, **values})


def test_defaults():
    settings = load()
    assert settings.app_version == DEFAULT_APP_VERSION
    assert settings.storage.connection_string == "UseDevelopmentStorage=true"
    assert settings.webpubsub_connection_string is None
    assert settings.webpubsub_endpoint is None
    assert settings.webpubsub_service_endpoint is None
    assert settings.webpubsub_hub == "voicea2a"
    assert settings.key_vault_url is None
    assert settings.max_request_body_bytes == 65536
    assert settings.health_check_timeout_seconds == 2.0
    assert settings.auth.dev_login_enabled is False


def test_default_version_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == DEFAULT_APP_VERSION


def test_empty_values_count_as_unset():
    settings = load(KEY_VAULT_URL="", WEBPUBSUB_HUB=" ", MAX_REQUEST_BODY_BYTES="")
    assert settings.key_vault_url is None
    assert settings.webpubsub_hub == "voicea2a"
    assert settings.max_request_body_bytes == 65536


def test_unknown_env_vars_are_ignored():
    assert load(SOMETHING_ELSE="x", MAX_REQUEST_BODY_BYTES="10").max_request_body_bytes == 10


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MAX_REQUEST_BODY_BYTES", "abc", "MAX_REQUEST_BODY_BYTES must be a positive integer"),
        ("MAX_REQUEST_BODY_BYTES", "0", "MAX_REQUEST_BODY_BYTES must be a positive integer"),
        ("MAX_REQUEST_BODY_BYTES", "-5", "MAX_REQUEST_BODY_BYTES must be a positive integer"),
        ("HEALTH_CHECK_TIMEOUT_SECONDS", "0", "HEALTH_CHECK_TIMEOUT_SECONDS must be a positive"),
        ("HEALTH_CHECK_TIMEOUT_SECONDS", "nan", "HEALTH_CHECK_TIMEOUT_SECONDS must be a positive"),
        ("HEALTH_CHECK_TIMEOUT_SECONDS", "soon", "HEALTH_CHECK_TIMEOUT_SECONDS must be a positive"),
        ("AUTH_DEV_LOGIN_ENABLED", "maybe", "AUTH_DEV_LOGIN_ENABLED must be one of"),
        ("WEBPUBSUB_HUB", "1hub", "WEBPUBSUB_HUB must start with a letter"),
        ("WEBPUBSUB_HUB", "my-hub", "WEBPUBSUB_HUB must start with a letter"),
        ("KEY_VAULT_URL", "http://kv.vault.azure.net", "KEY_VAULT_URL must be an https:// URL"),
        ("KEY_VAULT_URL", "kv.vault.azure.net", "KEY_VAULT_URL must be an https:// URL"),
        ("WEBPUBSUB_ENDPOINT", "ftp://x", "WEBPUBSUB_ENDPOINT must be an http(s):// URL"),
        ("WEBPUBSUB_CONNECTION_STRING", "garbage", "WEBPUBSUB_CONNECTION_STRING must look like"),
        (
            "WEBPUBSUB_CONNECTION_STRING",
            "Endpoint=http://localhost:8080;Version=1.0;",
            "WEBPUBSUB_CONNECTION_STRING must look like",
        ),
        ("AzureWebJobsStorage", "nonsense", "AzureWebJobsStorage must be a storage connection"),
    ],
)
def test_bad_setting_is_named(name, value, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load(**{name: value})


def test_bad_plain_value_is_quoted_in_message():
    with pytest.raises(ConfigError) as info:
        load(MAX_REQUEST_BODY_BYTES="abc")
    assert str(info.value) == "MAX_REQUEST_BODY_BYTES must be a positive integer, got 'abc'"


def test_bad_connection_strings_are_never_echoed():
    secret = "Endpoint=nothttp;AccessKey=TOPSECRETKEY;"
    with pytest.raises(ConfigError) as info:
        load(WEBPUBSUB_CONNECTION_STRING=secret)
    assert "TOPSECRETKEY" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_settings({"AzureWebJobsStorage": "AccountKey=TOPSECRETKEY"})
    assert "TOPSECRETKEY" not in str(info.value)


def test_storage_is_required():
    with pytest.raises(ConfigError, match="AzureWebJobsStorage is required"):
        load_settings({})


@pytest.mark.parametrize(
    "value",
    ["UseDevelopmentStorage=true", "UseDevelopmentStorage=true;", "usedevelopmentstorage=TRUE"],
)
def test_development_storage_shortcut_is_normalised(value):
    storage = load_settings({"AzureWebJobsStorage": value}).storage
    assert storage.connection_string == "UseDevelopmentStorage=true"


def test_identity_storage_forms():
    storage = load_settings(
        {
            "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net/",
            "AzureWebJobsStorage__clientId": "11111111-2222-3333-4444-555555555555",
        }
    ).storage
    assert storage.uses_identity
    assert storage.table_service_uri == "https://acct.table.core.windows.net"
    assert storage.client_id == "11111111-2222-3333-4444-555555555555"
    storage = load_settings({"AzureWebJobsStorage__accountName": "acct"}).storage
    assert storage.table_service_uri == "https://acct.table.core.windows.net"
    assert storage.client_id is None
    with pytest.raises(ConfigError, match="AzureWebJobsStorage__accountName"):
        load_settings({"AzureWebJobsStorage__accountName": "Not_Valid"})
    with pytest.raises(ConfigError, match="AzureWebJobsStorage__tableServiceUri"):
        load_settings({"AzureWebJobsStorage__tableServiceUri": "acct.table.core.windows.net"})


def test_connection_string_wins_over_identity_form():
    storage = load(
        AzureWebJobsStorage__tableServiceUri="https://acct.table.core.windows.net"
    ).storage
    assert not storage.uses_identity


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("Yes", True),
        ("false", False), ("False", False), ("0", False), ("no", False), ("NO", False),
    ],
)  # fmt: skip
def test_bool_parsing(value, expected):
    assert load(AUTH_DEV_LOGIN_ENABLED=value).auth.dev_login_enabled is expected


def test_webpubsub_endpoint_from_connection_string_or_setting():
    settings = load(WEBPUBSUB_CONNECTION_STRING="Endpoint=http://localhost:8080/;AccessKey=k;")
    assert settings.webpubsub_service_endpoint == "http://localhost:8080"
    emulator = "Endpoint=http://localhost;Port=8080;AccessKey=k;Version=1.0;"
    assert load(WEBPUBSUB_CONNECTION_STRING=emulator).webpubsub_service_endpoint == (
        "http://localhost:8080"
    )
    settings = load(WEBPUBSUB_ENDPOINT="https://x.webpubsub.azure.com/")
    assert settings.webpubsub_service_endpoint == "https://x.webpubsub.azure.com"


def test_repr_hides_secrets():
    settings = load_settings(
        {
            "AzureWebJobsStorage": "AccountName=a;AccountKey=STORAGEKEY;",
            "WEBPUBSUB_CONNECTION_STRING": WPS,
        }
    )
    text = repr(settings)
    assert "STORAGEKEY" not in text
    assert "c2VjcmV0a2V5" not in text
    assert "AccountName" not in text
    assert settings.webpubsub_connection_string == WPS


def test_get_settings_is_cached_until_reset(monkeypatch):
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("MAX_REQUEST_BODY_BYTES", "100")
    first = get_settings()
    monkeypatch.setenv("MAX_REQUEST_BODY_BYTES", "200")
    assert get_settings() is first
    reset_settings()
    assert get_settings().max_request_body_bytes == 200


def test_settings_are_frozen():
    settings = load()
    with pytest.raises(AttributeError):
        settings.max_request_body_bytes = 1


def test_local_settings_example_is_valid_and_documented():
    example = json.loads((ROOT / "local.settings.example.json").read_text())
    values = example["Values"]
    settings = load_settings(values)
    assert settings.auth.dev_login_enabled is True
    assert settings.webpubsub_service_endpoint == "http://localhost:8080"
    assert len(values["AUTH_SIGNING_KEY"]) >= 32
    assert "local" in values["AUTH_SIGNING_KEY"]
    docs = (ROOT / "README.md").read_text()
    for name in {*values, *SETTING_NAMES}:
        assert f"`{name}`" in docs, f"{name} is not in the settings table of README.md"


def test_dev_sign_in_is_refused_in_azure_unless_allowed():
    azure = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "WEBSITE_INSTANCE_ID": "abc123"}

    with pytest.raises(ConfigError, match="AUTH_DEV_LOGIN_ENABLED=true is refused"):
        load_settings({**azure, "AUTH_DEV_LOGIN_ENABLED": "true"})
    allowed = load_settings(
        {**azure, "AUTH_DEV_LOGIN_ENABLED": "true", "AUTH_DEV_LOGIN_ALLOW_IN_AZURE": "true"}
    )
    assert allowed.auth.dev_login_enabled and allowed.auth.running_in_azure
    assert load_settings(azure).auth.dev_login_enabled is False


@pytest.mark.parametrize(
    "values, message",
    [
        ({"AUTH_OIDC_ISSUER": "https://login.example/tenant/v2.0"}, "set together"),
        ({"AUTH_OIDC_ISSUER": "http://login.example", "AUTH_OIDC_AUDIENCE": "api"}, "https://"),
        ({"VOICE_LIVE_AUTH_MODE": "magic"}, "VOICE_LIVE_AUTH_MODE"),
        ({"VOICE_LIVE_ENDPOINT": "http://voice.example"}, "VOICE_LIVE_ENDPOINT"),
        ({"RATE_LIMIT_VOICE_TOKEN_PER_MINUTE": "0"}, "RATE_LIMIT_VOICE_TOKEN_PER_MINUTE"),
        ({"SECRET_CACHE_GRACE_SECONDS": "-1"}, "SECRET_CACHE_GRACE_SECONDS"),
    ],
)
def test_identity_settings_are_validated(values, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true", **values})


def test_a_loopback_issuer_may_use_http():
    settings = load_settings(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "AUTH_OIDC_ISSUER": "http://127.0.0.1:5000",
            "AUTH_OIDC_AUDIENCE": "api://voicea2a",
        }
    )
    assert settings.auth.oidc_issuer == "http://127.0.0.1:5000"
