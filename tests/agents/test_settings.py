"""Agent settings: defaults, validation naming the setting, the advertised URL."""

import pytest

from agents import settings as settings_module
from agents.faults import FaultConfig
from agents.security import InboundAuth
from agents.settings import SETTING_NAMES, AgentConfigError, AgentSettings, load_settings


def test_defaults_from_an_empty_environment():
    settings = load_settings({})
    assert settings == AgentSettings()
    assert settings.function_app_url == "http://127.0.0.1:7071"
    assert settings.registration_enabled is True
    assert settings.heartbeat_seconds == 60
    assert settings.auth_mode == "dev"
    assert settings.faults_enabled is False
    assert settings.faults == FaultConfig()


def test_every_setting_is_read_and_documented():
    env = {
        "FUNCTION_APP_URL": "https://func.contoso.example/",
        "AGENT_REGISTRATION_ENABLED": "false",
        "AGENT_HEARTBEAT_SECONDS": "0.5",
        "AGENT_REGISTRATION_RETRY_INITIAL_SECONDS": "0.1",
        "AGENT_REGISTRATION_RETRY_MAX_SECONDS": "2",
        "AGENT_AUTH_MODE": "Entra",
        "AGENT_REGISTRATION_SCOPE": "api://voicea2a/.default",
        "AGENT_PUBLIC_BASE_URL": "https://{name}.agents.example:{port}",
        "AUTH_SIGNING_KEY": "agents-test-signing-key-0123456789abcdef",
        "AUTH_APP_ISSUER": "voicea2a-local",
        "AGENT_TOKEN_ISSUER": "voicea2a-test",
        "AGENT_TOKEN_AUDIENCE": "a2a-test",
        "AGENT_ENTRA_ISSUER": "https://login.microsoftonline.com/tenant/v2.0",
        "AGENT_ENTRA_AUDIENCE": "api://contoso-agents",
        "AGENT_ENTRA_JWKS_URL": "https://login.microsoftonline.com/tenant/discovery/v2.0/keys",
        "AGENT_ENTRA_ROLE": "Agents.Call",
        "AGENT_API_KEY": "agents-test-api-key",
        "AGENT_FAULTS_ENABLED": "true",
        "AGENT_FAULT_LATENCY_MS": "250",
        "AGENT_FAULT_FAILURE_RATE": "0.25",
        "AGENT_FAULT_FAILURE_MODE": "HTTP",
        "AGENT_FAULT_MALFORMED_RATE": "0.1",
        "AGENT_FAULT_HANG": "yes",
        "AGENT_FAULT_SEED": "9",
    }
    assert sorted(env) == sorted(SETTING_NAMES)
    settings = load_settings(env)
    assert settings == AgentSettings(
        function_app_url="https://func.contoso.example",
        registration_enabled=False,
        heartbeat_seconds=0.5,
        retry_initial_seconds=0.1,
        retry_max_seconds=2.0,
        auth_mode="entra",
        registration_scope="api://voicea2a/.default",
        public_base_url="https://{name}.agents.example:{port}",
        inbound=InboundAuth(
            signing_key="agents-test-signing-key-0123456789abcdef",
            app_issuer="voicea2a-test",
            app_audience="a2a-test",
            entra_issuer="https://login.microsoftonline.com/tenant/v2.0",
            entra_audience="api://contoso-agents",
            entra_jwks_url="https://login.microsoftonline.com/tenant/discovery/v2.0/keys",
            entra_role="Agents.Call",
            api_key="agents-test-api-key",
        ),
        faults_enabled=True,
        faults=FaultConfig(
            latency_ms=250,
            failure_rate=0.25,
            failure_mode="http",
            malformed_rate=0.1,
            hang=True,
            seed=9,
        ),
    )
    for name in SETTING_NAMES:
        assert name in settings_module.__doc__


def test_empty_values_mean_not_set():
    assert load_settings({name: "" for name in SETTING_NAMES}) == AgentSettings()


def test_the_token_issuer_follows_the_apps_when_not_set():
    # The devhost gives the agents the app's own settings file.
    settings = load_settings({"AUTH_APP_ISSUER": "voicea2a-local"})
    assert settings.inbound.app_issuer == "voicea2a-local"
    assert load_settings({}).inbound.app_issuer == "voicea2a"


def test_secrets_are_not_in_the_repr():
    settings = load_settings({"AUTH_SIGNING_KEY": "k" * 40, "AGENT_API_KEY": "api-key-value"})
    assert "k" * 40 not in repr(settings)
    assert "api-key-value" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FUNCTION_APP_URL": "ftp://x"}, "FUNCTION_APP_URL must be an http(s) URL"),
        ({"AGENT_HEARTBEAT_SECONDS": "0"}, "AGENT_HEARTBEAT_SECONDS must be greater than 0"),
        ({"AGENT_HEARTBEAT_SECONDS": "soon"}, "AGENT_HEARTBEAT_SECONDS must be a number"),
        ({"AGENT_HEARTBEAT_SECONDS": "inf"}, "AGENT_HEARTBEAT_SECONDS must be a finite number"),
        (
            {"AGENT_REGISTRATION_ENABLED": "maybe"},
            "AGENT_REGISTRATION_ENABLED must be true or false",
        ),
        ({"AGENT_AUTH_MODE": "key"}, "AGENT_AUTH_MODE must be one of dev, entra"),
        ({"AGENT_AUTH_MODE": "entra"}, "AGENT_REGISTRATION_SCOPE is required"),
        (
            {
                "AGENT_REGISTRATION_RETRY_INITIAL_SECONDS": "5",
                "AGENT_REGISTRATION_RETRY_MAX_SECONDS": "1",
            },
            "AGENT_REGISTRATION_RETRY_MAX_SECONDS must not be below",
        ),
        ({"AGENT_PUBLIC_BASE_URL": "http://{host}"}, "may only use the {name} and {port} fields"),
        ({"AGENT_PUBLIC_BASE_URL": "{name}"}, "AGENT_PUBLIC_BASE_URL must be an http(s) URL"),
        ({"AGENT_FAULT_FAILURE_RATE": "1.5"}, "failureRate must be a number from 0 to 1"),
        ({"AGENT_FAULT_LATENCY_MS": "1.5"}, "AGENT_FAULT_LATENCY_MS must be an integer"),
        ({"AGENT_FAULT_FAILURE_MODE": "smoke"}, "failureMode must be one of"),
        ({"AGENT_ENTRA_ISSUER": "https://login.example/t/v2.0"}, "must be set together"),
        (
            {
                "AGENT_ENTRA_ISSUER": "https://login.example/t/v2.0",
                "AGENT_ENTRA_AUDIENCE": "api://agents",
                "AGENT_ENTRA_JWKS_URL": "http://login.example/keys",
            },
            "AGENT_ENTRA_JWKS_URL must be an https URL",
        ),
    ],
)
def test_invalid_settings_name_the_setting(env, message):
    with pytest.raises(AgentConfigError) as raised:
        load_settings(env)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("template", "host", "expected"),
    [
        (None, "127.0.0.1", "http://127.0.0.1:8101"),
        (None, "0.0.0.0", "http://127.0.0.1:8101"),
        (None, "::1", "http://[::1]:8101"),
        ("https://{name}.example/", "0.0.0.0", "https://authentication.example"),
        ("http://agents.example:{port}", "0.0.0.0", "http://agents.example:8101"),
    ],
)
def test_advertised_url(template, host, expected):
    settings = AgentSettings(public_base_url=template)
    assert settings.advertised_url("authentication", host, 8101) == expected
