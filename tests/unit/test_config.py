import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from devhost.pubsub.connstr import parse_connection_string as devhost_parse
from voicea2a.config import (
    PLATFORM,
    SECRETS,
    SETTING_NAMES,
    SETTINGS,
    ConfigError,
    Settings,
    get_settings,
    load_settings,
    reset_settings,
)
from voicea2a.secrets import secret_env_name

ROOT = Path(__file__).resolve().parents[2]
BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
WPS = "Endpoint=https://x.webpubsub.azure.com;AccessKey=c2VjcmV0a2V5;Version=1.0;"


def load(**values):
    return load_settings({**BASE, **values})


def test_defaults():
    settings = load()
    assert settings.app_version == "0.1.0"
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
    assert project["version"] == Settings().app_version


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
        ("WEBPUBSUB_HUB", "1hub", "WEBPUBSUB_HUB must be a letter followed by"),
        ("WEBPUBSUB_HUB", "my-hub", "WEBPUBSUB_HUB must be a letter followed by"),
        ("APPROVAL_TIMEOUT_MINUTES", "0", "APPROVAL_TIMEOUT_MINUTES must be a positive number"),
        ("AGENT_RETRY_MAX_ATTEMPTS", "1.5", "AGENT_RETRY_MAX_ATTEMPTS must be a positive integer"),
        ("A2A_AGENT_URLS", "https://a,ftp://b", "A2A_AGENT_URLS must be comma-separated http"),
        ("VOICE_LIVE_AUTH_MODE", "magic", "VOICE_LIVE_AUTH_MODE must be one of entra, key"),
        ("KEY_VAULT_URL", "http://kv.vault.azure.net", "KEY_VAULT_URL must be an https:// URL"),
        ("KEY_VAULT_URL", "kv.vault.azure.net", "KEY_VAULT_URL must be an https:// URL"),
        ("WEBPUBSUB_ENDPOINT", "ftp://x", "WEBPUBSUB_ENDPOINT must be an http(s):// URL"),
    ],
)
def test_bad_setting_is_named(name, value, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load(**{name: value})


def test_bad_plain_value_is_quoted_in_message():
    with pytest.raises(ConfigError) as info:
        load(MAX_REQUEST_BODY_BYTES="abc")
    assert str(info.value) == "MAX_REQUEST_BODY_BYTES must be a positive integer, got 'abc'"


def endpoint(settings):
    return settings.webpubsub_service_endpoint


def storage(settings):
    return settings.storage.connection_string


def aad(settings):
    return settings.telemetry.aad


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("WEBPUBSUB_CONNECTION_STRING", "garbage", endpoint),
        ("WEBPUBSUB_CONNECTION_STRING", "Endpoint=http://localhost:8080;Version=1.0;", endpoint),
        ("WEBPUBSUB_CONNECTION_STRING", "Endpoint=nothttp;AccessKey=TOPSECRETKEY;", endpoint),
        # azure-core's rules: no repeated key (in any case), no segment without a value.
        ("WEBPUBSUB_CONNECTION_STRING", "Endpoint=http://h;AccessKey=a;accesskey=b", endpoint),
        ("WEBPUBSUB_CONNECTION_STRING", "Endpoint=http://h;AccessKey=TOPSECRETKEY;x", endpoint),
        # The SDK appends Port= to the endpoint: refused where that would garble it.
        ("WEBPUBSUB_CONNECTION_STRING", "Endpoint=http://h:80;Port=81;AccessKey=k", endpoint),
        ("WEBPUBSUB_CONNECTION_STRING", "Endpoint=http://h/hub;Port=80;AccessKey=k", endpoint),
        ("WEBPUBSUB_CONNECTION_STRING", "Endpoint=http://h;Port=80x;AccessKey=k", endpoint),
        ("AzureWebJobsStorage", "nonsense", storage),
        ("AzureWebJobsStorage", "AccountKey=TOPSECRETKEY", storage),
        ("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "Authorization=Key", aad),
        ("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "Authorization=AAD;authorization=x", aad),
    ],
)
def test_connection_strings_are_checked_where_first_read(name, value, read):
    settings = load(**{name: value})  # loading leaves them alone: parsing needs azure-core
    with pytest.raises(ConfigError, match=f"^{name} must ") as info:
        read(settings)
    assert "TOPSECRETKEY" not in str(info.value)


def test_loading_the_settings_does_not_import_azure_core():
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    probe = (
        "import json, sys\n"
        "from voicea2a.config import load_settings\n"
        "load_settings(json.loads(sys.argv[1]))\n"
        "print(sorted(m for m in sys.modules if m.startswith('azure.core')))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(example)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "[]"


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
    settings = load(WEBPUBSUB_CONNECTION_STRING=WPS, WEBPUBSUB_ENDPOINT="https://ignored")
    assert settings.webpubsub_service_endpoint == "https://x.webpubsub.azure.com"


@pytest.mark.parametrize(
    "value",
    [
        "Endpoint=http://localhost:8080/;AccessKey=k;",
        "endpoint=http://localhost;port=8080;accesskey=k",
        "Endpoint=https://x.webpubsub.azure.com/;AccessKey=k;Version=1.0;",
        "Endpoint=http://localhost/;Port=8080;AccessKey=k;Version=1.0;",
    ],
)
def test_the_app_and_the_devhost_agree_on_the_webpubsub_endpoint(value):
    # The devhost reads the string as the SDK does (the audience of the tokens the app signs).
    endpoint = load(WEBPUBSUB_CONNECTION_STRING=value).webpubsub_service_endpoint
    assert endpoint == devhost_parse(value).endpoint


def test_telemetry_authentication_string():
    named = load(
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING="ClientId=abc;Authorization=aad"
    ).telemetry
    assert named.aad and named.aad_client_id == "abc"
    plain = load(APPLICATIONINSIGHTS_AUTHENTICATION_STRING="Authorization=AAD").telemetry
    assert plain.aad and plain.aad_client_id is None
    assert not load().telemetry.aad


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


def example_values() -> dict[str, str]:
    return json.loads((ROOT / "local.settings.example.json").read_text())["Values"]


def readme_settings() -> dict[str, str]:
    """The settings table of README.md: each name of a row's first column → its Default cell."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Settings\n") :]
    section = section[: section.index("\n## ", 1)]
    table: dict[str, str] = {}
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        names, default = (cell.strip() for cell in row.split(" | ")[:2])
        for name in re.findall(r"`([^`]+)`", names):
            assert name not in table, f"{name} has two rows in the settings table of README.md"
            table[name] = default
    return table


SECRET_ENV_NAMES = {secret_env_name(secret.name) for secret in SECRETS}


def test_local_settings_example_is_valid():
    values = example_values()
    settings = load_settings(values)
    assert settings.auth.dev_login_enabled is True
    assert settings.webpubsub_service_endpoint == "http://localhost:8080"
    assert len(values["AUTH_SIGNING_KEY"]) >= 32
    assert "local" in values["AUTH_SIGNING_KEY"]


def test_the_settings_are_declared_once():
    assert len(SETTING_NAMES) == len(set(SETTING_NAMES))
    assert not SECRET_ENV_NAMES & set(SETTING_NAMES)


def test_the_readme_table_lists_exactly_the_settings():
    documented = set(readme_settings())
    declared = {*SETTING_NAMES, *SECRET_ENV_NAMES}
    assert not declared - documented, "not in the settings table of README.md"
    assert not documented - declared, "in README.md's settings table, unknown to config.py"


def test_the_example_file_lists_exactly_the_settings():
    listed = set(example_values())
    declared = {spec.name for spec in SETTINGS if spec.scope != PLATFORM} | SECRET_ENV_NAMES
    assert not declared - listed, "not in local.settings.example.json"
    assert not listed - declared, "in local.settings.example.json, unknown to config.py"


@pytest.mark.parametrize("spec", SETTINGS, ids=lambda spec: spec.name)
def test_the_readme_states_each_default(spec):
    cell = readme_settings()[spec.name]
    if spec.required:
        assert "required" in cell, f"README.md: {spec.name} is required"
    shown = re.match(r"`([^`]*)`", cell)
    if shown:  # the value the README gives, read as the app reads it
        assert spec.parser.convert(shown.group(1)) == spec.default, f"README.md: {cell!r}"
    else:  # "unset", "— (required)", "set by Azure": nothing, by default
        assert not spec.default, f"README.md says {cell!r}; config.py: {spec.default!r}"


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
