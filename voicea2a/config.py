"""The one typed settings object, read once from the environment and validated."""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict
from urllib.parse import urlsplit, urlunsplit

# Keep in step with [project].version in pyproject.toml (a unit test checks it).
DEFAULT_APP_VERSION = "0.1.0"
DEFAULT_WEBPUBSUB_HUB = "voicea2a"
DEFAULT_MAX_REQUEST_BODY_BYTES = 65536
DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS = 2.0
DEFAULT_VOICE_LIVE_API_VERSION = "2026-07-15"
DEFAULT_VOICE_LIVE_MODEL = "gpt-realtime"
DEFAULT_VOICE_LIVE_VOICE = "en-US-Ava:DragonHDLatestNeural"
VOICE_AUTH_MODES = ("entra", "key")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Where a setting's value comes from, in Azure and locally.
APP = "app"  # an app setting, in Bicep and in local.settings.example.json
PLATFORM = "platform"  # set by Azure itself; never in a template or a local file
LOCAL = "local"  # local development only; in Azure the value comes from Key Vault or stays off
HOST = "host"  # read by the Functions host (or host.json), not by the app's code


@dataclass(frozen=True)
class SettingSpec:
    """One environment variable the app reads: required or not, and where it is set."""

    name: str
    required: bool = False
    scope: str = APP


# Every environment variable the app reads (the settings table in README.md documents each).
SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("FUNCTIONS_WORKER_RUNTIME", required=True, scope=HOST),
    SettingSpec("TASKHUB_NAME", required=True, scope=HOST),
    SettingSpec("APP_VERSION"),
    # Storage: the connection string locally, the identity-based form in Azure (one is required).
    SettingSpec("AzureWebJobsStorage", scope=LOCAL),
    SettingSpec("AzureWebJobsStorage__tableServiceUri"),
    SettingSpec("AzureWebJobsStorage__accountName"),
    SettingSpec("AzureWebJobsStorage__clientId"),
    SettingSpec("AzureWebJobsStorage__blobServiceUri", scope=HOST),
    SettingSpec("AzureWebJobsStorage__queueServiceUri", scope=HOST),
    SettingSpec("AzureWebJobsStorage__credential", scope=HOST),
    # Read by the host (its own telemetry) and by the app (OpenTelemetry: voicea2a/telemetry.py).
    SettingSpec("APPLICATIONINSIGHTS_CONNECTION_STRING"),
    SettingSpec("APPLICATIONINSIGHTS_AUTHENTICATION_STRING"),
    SettingSpec("OTEL_TRACES_EXPORTER"),
    SettingSpec("LOG_LEVEL"),
    SettingSpec("LOG_FORMAT"),
    SettingSpec("WEBPUBSUB_CONNECTION_STRING", scope=LOCAL),
    SettingSpec("WEBPUBSUB_ENDPOINT"),
    SettingSpec("WEBPUBSUB_HUB"),
    SettingSpec("WEBPUBSUB_TOKEN_MINUTES"),
    SettingSpec("EVENTS_PUBLISH_TIMEOUT_SECONDS"),
    SettingSpec("EVENTS_BATCH_BUDGET_SECONDS"),
    SettingSpec("KEY_VAULT_URL"),
    SettingSpec("AZURE_CLIENT_ID"),
    SettingSpec("MAX_REQUEST_BODY_BYTES"),
    SettingSpec("HEALTH_CHECK_TIMEOUT_SECONDS"),
    SettingSpec("AUTH_DEV_LOGIN_ENABLED"),
    SettingSpec("AUTH_DEV_LOGIN_ALLOW_IN_AZURE", scope=LOCAL),
    SettingSpec("AUTH_OIDC_ISSUER"),
    SettingSpec("AUTH_OIDC_AUDIENCE"),
    SettingSpec("AUTH_APP_ISSUER"),
    SettingSpec("AUTH_APP_AUDIENCE"),
    SettingSpec("AUTH_CLIENT_ID"),
    SettingSpec("AUTH_AUTHORITY"),
    SettingSpec("AUTH_API_SCOPE"),
    SettingSpec("WEBSITE_INSTANCE_ID", scope=PLATFORM),
    SettingSpec("SECRET_CACHE_TTL_SECONDS"),
    SettingSpec("SECRET_CACHE_GRACE_SECONDS"),
    SettingSpec("VOICE_LIVE_ENDPOINT"),
    SettingSpec("VOICE_LIVE_API_VERSION"),
    SettingSpec("VOICE_LIVE_MODEL"),
    SettingSpec("VOICE_LIVE_VOICE"),
    SettingSpec("VOICE_LIVE_AUTH_MODE"),
    SettingSpec("VOICE_TOKEN_IDENTITY_CLIENT_ID"),
    SettingSpec("RATE_LIMIT_VOICE_TOKEN_PER_MINUTE"),
    SettingSpec("A2A_AGENT_URLS"),
    SettingSpec("AGENT_URL_ALLOWLIST"),
    SettingSpec("AGENT_ADMISSION_ALLOWLIST"),
    SettingSpec("AGENT_HEALTH_SCHEDULE", required=True),
    SettingSpec("AGENT_EXPIRY_MINUTES"),
    SettingSpec("AGENT_PROBE_TIMEOUT_SECONDS"),
    SettingSpec("AGENT_CARD_MAX_BYTES"),
    SettingSpec("VOICE_SYNC_WAIT_SECONDS"),
    SettingSpec("AGENT_TIMEOUT_SECONDS"),
    SettingSpec("AGENT_RETRY_MAX_ATTEMPTS"),
    SettingSpec("AGENT_RETRY_FIRST_SECONDS"),
    SettingSpec("AGENT_RETRY_MAX_SECONDS"),
    SettingSpec("APPROVAL_TIMEOUT_MINUTES"),
    SettingSpec("TURN_DEADLINE_SECONDS"),
    SettingSpec("HISTORY_RETRY_MINUTES"),
    SettingSpec("A2A_RESPONSE_MAX_BYTES"),
    SettingSpec("A2A_AGENT_AUDIENCES"),
)
SETTING_NAMES = tuple(spec.name for spec in SETTINGS)

# Secrets, read through voicea2a.secrets: Key Vault secret `name` in Azure, the environment
# variable UPPER_SNAKE locally (`required`: the app cannot serve its core routes without it).
SECRETS: tuple[SettingSpec, ...] = (
    SettingSpec("auth-signing-key", required=True),
    SettingSpec("auth-signing-key-previous"),
    SettingSpec("voice-live-api-key"),
)


_HUB_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it (never a secret value)."""


@dataclass(frozen=True)
class StorageSettings:
    """How to reach the Table service: a connection string, or an endpoint plus identity."""

    connection_string: str | None = field(default=None, repr=False)
    table_service_uri: str | None = None
    client_id: str | None = None

    @property
    def uses_identity(self) -> bool:
        """True when the identity-based (managed identity) form is in use."""
        return self.connection_string is None


@dataclass(frozen=True)
class AuthSettings:
    """Who may call the API: the Entra (OIDC) issuer, our own app tokens, the dev sign-in."""

    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    app_issuer: str = "voicea2a"
    app_audience: str = "voicea2a-api"
    dev_login_enabled: bool = False
    dev_login_allow_in_azure: bool = False
    # The browser's own Entra app registration (MSAL), public: it goes to every client.
    client_id: str | None = None
    authority: str | None = None
    api_scope: str | None = None
    running_in_azure: bool = False


@dataclass(frozen=True)
class SecretCacheSettings:
    """How long secrets are cached, and how long a cached one may outlive a Key Vault outage."""

    ttl_seconds: float = 300.0
    grace_seconds: float = 600.0


@dataclass(frozen=True)
class VoiceSettings:
    """The Voice Live resource the browser connects to, and how its credential is minted."""

    endpoint: str | None = None
    api_version: str = DEFAULT_VOICE_LIVE_API_VERSION
    model: str = DEFAULT_VOICE_LIVE_MODEL
    voice: str = DEFAULT_VOICE_LIVE_VOICE
    auth_mode: str = "entra"
    token_identity_client_id: str | None = None


@dataclass(frozen=True)
class RateLimitSettings:
    """Per-user (or per-IP) request budgets of the token routes."""

    voice_token_per_minute: int = 10


@dataclass(frozen=True)
class AgentRegistrySettings:
    """Which agents may join the network and how their health is watched."""

    bootstrap_urls: tuple[str, ...] = ()
    # Hosts allowed past the SSRF guard (plain http, private or loopback addresses): local use.
    url_allowlist: frozenset[str] = frozenset()
    # Identities (token subjects) whose registrations are admitted without a supervisor.
    admission_allowlist: frozenset[str] = frozenset()
    expiry_minutes: int = 10
    probe_timeout_seconds: float = 3.0
    card_max_bytes: int = 256 * 1024
    failures_before_unhealthy: int = 3


class LimitsJson(TypedDict):
    """The delegation limits as an orchestration carries them (`DelegationSettings.to_json`)."""

    agentTimeoutSeconds: float
    retryMaxAttempts: int
    retryFirstSeconds: float
    retryMaxSeconds: float
    approvalTimeoutMinutes: float
    responseMaxBytes: int
    turnDeadlineSeconds: float
    historyRetryMinutes: float


@dataclass(frozen=True)
class DelegationSettings:
    """How long a voice turn waits, and how specialists are retried, timed out and approved."""

    sync_wait_seconds: float = 8.0
    agent_timeout_seconds: float = 6.0
    retry_max_attempts: int = 3
    retry_first_seconds: float = 1.0
    retry_max_seconds: float = 4.0
    approval_timeout_minutes: float = 10.0
    response_max_bytes: int = 1024 * 1024
    # Agent work of one turn, all stages together (a person's approval is not counted).
    turn_deadline_seconds: float = 20.0
    # How long recording a turn in the history is retried after the answer is out.
    history_retry_minutes: float = 15.0
    # Entra audiences (app id URIs) the app may get a token for to call an agent: a card cannot
    # make the app's identity hand it a token for anything else (Key Vault, ARM, Graph ...).
    agent_audiences: frozenset[str] = frozenset()

    def to_json(self) -> LimitsJson:
        """The values an orchestration carries in its input (so replays see the same ones)."""
        return {
            "agentTimeoutSeconds": self.agent_timeout_seconds,
            "retryMaxAttempts": self.retry_max_attempts,
            "retryFirstSeconds": self.retry_first_seconds,
            "retryMaxSeconds": self.retry_max_seconds,
            "approvalTimeoutMinutes": self.approval_timeout_minutes,
            "responseMaxBytes": self.response_max_bytes,
            "turnDeadlineSeconds": self.turn_deadline_seconds,
            "historyRetryMinutes": self.history_retry_minutes,
        }


@dataclass(frozen=True)
class TelemetrySettings:
    """Where logs, traces and metrics go (voicea2a/telemetry.py)."""

    # Not a secret (it names the resource), but there is no reason to print it either.
    connection_string: str | None = field(default=None, repr=False)
    # APPLICATIONINSIGHTS_AUTHENTICATION_STRING says `Authorization=AAD`: export with an identity.
    aad: bool = False
    aad_client_id: str | None = None
    traces_exporter: str | None = None
    log_level: str | None = None
    log_format: str = "json"


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment, validated."""

    app_version: str
    storage: StorageSettings
    webpubsub_connection_string: str | None = field(default=None, repr=False)
    webpubsub_endpoint: str | None = None
    webpubsub_hub: str = DEFAULT_WEBPUBSUB_HUB
    webpubsub_token_minutes: int = 30
    events_publish_timeout_seconds: float = 2.0
    # All the sends of one batch of a delegation's events together (activities/publish.py).
    events_batch_budget_seconds: float = 5.0
    key_vault_url: str | None = None
    # The app's user-assigned identity (Key Vault, Web PubSub); None: the system-assigned one.
    managed_identity_client_id: str | None = None
    max_request_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_BYTES
    health_check_timeout_seconds: float = DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS
    auth: AuthSettings = field(default_factory=AuthSettings)
    secret_cache: SecretCacheSettings = field(default_factory=SecretCacheSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    agents: AgentRegistrySettings = field(default_factory=AgentRegistrySettings)
    delegation: DelegationSettings = field(default_factory=DelegationSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)

    @property
    def webpubsub_service_endpoint(self) -> str | None:
        """The Web PubSub base URL (no trailing slash), from the connection string or endpoint."""
        if self.webpubsub_connection_string is not None:
            return webpubsub_endpoint_from_connection_string(self.webpubsub_connection_string)
        return self.webpubsub_endpoint


def parse_connection_string(value: str) -> dict[str, str]:
    """Split `Key=Value;Key=Value;` into a dict with lower-cased keys."""
    parts: dict[str, str] = {}
    for segment in value.split(";"):
        segment = segment.strip()
        if not segment:
            continue
        key, sep, val = segment.partition("=")
        if not sep or not key.strip():
            raise ValueError("malformed connection string segment")
        parts[key.strip().lower()] = val.strip()
    return parts


def webpubsub_endpoint_from_connection_string(value: str) -> str:
    """Return the endpoint of a Web PubSub connection string, with any `Port=` folded in."""
    parts = parse_connection_string(value)
    endpoint = parts.get("endpoint", "")
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError("connection string has no http(s) Endpoint")
    port = parts.get("port")
    netloc = url.netloc
    if port:
        if not port.isdigit():
            raise ValueError("connection string Port is not a number")
        netloc = f"{url.hostname}:{port}"
    return urlunsplit((url.scheme, netloc, url.path.rstrip("/"), "", ""))


def _get(env: Mapping[str, str], name: str) -> str | None:
    # An empty value means "not set": local.settings.json lists optional settings as "".
    value = env.get(name, "").strip()
    return value or None


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _http_url(name: str, value: str, *, https_only: bool = False) -> str:
    url = urlsplit(value)
    # Plain http is fine on this machine's loopback (local identity providers in tests).
    schemes = ("https",) if https_only and url.hostname not in LOOPBACK_HOSTS else ("http", "https")
    if url.scheme not in schemes or not url.hostname:
        expected = "an https:// URL" if https_only else "an http(s):// URL"
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    return value.rstrip("/")


def _positive_int(name: str, value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return number


def _positive_float(name: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return number


def parse_bool(name: str, value: str | None, default: bool) -> bool:
    """Parse true/false/1/0/yes/no (any case); anything else is a ConfigError naming `name`."""
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be one of true/false/1/0/yes/no, got {value!r}")


def _storage(env: Mapping[str, str]) -> StorageSettings:
    connection_string = _get(env, "AzureWebJobsStorage")
    client_id = _get(env, "AzureWebJobsStorage__clientId")
    if connection_string is not None:
        try:
            parts = parse_connection_string(connection_string)
        except ValueError:
            parts = {}
        if parts.get("usedevelopmentstorage", "").lower() == "true":
            # The Tables SDK recognises only this exact spelling of the Azurite shortcut.
            return StorageSettings(connection_string="UseDevelopmentStorage=true")
        if "accountname" not in parts and "tableendpoint" not in parts:
            # Never echo a connection string: it carries the account key.
            raise ConfigError(
                "AzureWebJobsStorage must be a storage connection string with AccountName or "
                "TableEndpoint, or UseDevelopmentStorage=true"
            )
        return StorageSettings(connection_string=connection_string)
    uri = _get(env, "AzureWebJobsStorage__tableServiceUri")
    if uri is not None:
        uri = _http_url("AzureWebJobsStorage__tableServiceUri", uri)
        return StorageSettings(table_service_uri=uri, client_id=client_id)
    account = _get(env, "AzureWebJobsStorage__accountName")
    if account is not None:
        if not re.fullmatch(r"[a-z0-9]{3,24}", account):
            raise ConfigError(
                "AzureWebJobsStorage__accountName must be 3-24 lowercase letters or digits, "
                f"got {account!r}"
            )
        uri = f"https://{account}.table.core.windows.net"
        return StorageSettings(table_service_uri=uri, client_id=client_id)
    raise ConfigError(
        "AzureWebJobsStorage is required: a connection string (UseDevelopmentStorage=true "
        "locally), or AzureWebJobsStorage__tableServiceUri for a managed identity"
    )


def _webpubsub_connection_string(env: Mapping[str, str]) -> str | None:
    value = _get(env, "WEBPUBSUB_CONNECTION_STRING")
    if value is None:
        return None
    try:
        webpubsub_endpoint_from_connection_string(value)
        has_key = bool(parse_connection_string(value).get("accesskey"))
    except ValueError:
        has_key = False
    if not has_key:
        raise ConfigError(
            "WEBPUBSUB_CONNECTION_STRING must look like "
            "'Endpoint=https://<name>.webpubsub.azure.com;AccessKey=<key>;Version=1.0;'"
        )
    return value


def _webpubsub_hub(env: Mapping[str, str]) -> str:
    hub = _get(env, "WEBPUBSUB_HUB") or DEFAULT_WEBPUBSUB_HUB
    if not _HUB_RE.fullmatch(hub):
        raise ConfigError(
            "WEBPUBSUB_HUB must start with a letter and contain only letters, digits and "
            f"underscores, got {hub!r}"
        )
    return hub


def _auth(env: Mapping[str, str]) -> AuthSettings:
    authority = _get(env, "AUTH_AUTHORITY")
    issuer = _get(env, "AUTH_OIDC_ISSUER")
    audience = _get(env, "AUTH_OIDC_AUDIENCE")
    if (issuer is None) != (audience is None):
        raise ConfigError("AUTH_OIDC_ISSUER and AUTH_OIDC_AUDIENCE must be set together")
    auth = AuthSettings(
        oidc_issuer=_http_url("AUTH_OIDC_ISSUER", issuer, https_only=True) if issuer else None,
        oidc_audience=audience,
        app_issuer=_get(env, "AUTH_APP_ISSUER") or "voicea2a",
        app_audience=_get(env, "AUTH_APP_AUDIENCE") or "voicea2a-api",
        client_id=_get(env, "AUTH_CLIENT_ID"),
        authority=_http_url("AUTH_AUTHORITY", authority, https_only=True) if authority else None,
        api_scope=_get(env, "AUTH_API_SCOPE"),
        dev_login_enabled=parse_bool(
            "AUTH_DEV_LOGIN_ENABLED", _get(env, "AUTH_DEV_LOGIN_ENABLED"), False
        ),
        dev_login_allow_in_azure=parse_bool(
            "AUTH_DEV_LOGIN_ALLOW_IN_AZURE", _get(env, "AUTH_DEV_LOGIN_ALLOW_IN_AZURE"), False
        ),
        # App Service sets WEBSITE_INSTANCE_ID on every instance it runs, Functions included.
        running_in_azure=_get(env, "WEBSITE_INSTANCE_ID") is not None,
    )
    if auth.dev_login_enabled and auth.running_in_azure and not auth.dev_login_allow_in_azure:
        raise ConfigError(
            "AUTH_DEV_LOGIN_ENABLED=true is refused when running in Azure (WEBSITE_INSTANCE_ID "
            "is set); set AUTH_DEV_LOGIN_ALLOW_IN_AZURE=true only for a throw-away environment"
        )
    return auth


def _voice(env: Mapping[str, str]) -> VoiceSettings:
    endpoint = _get(env, "VOICE_LIVE_ENDPOINT")
    mode = (_get(env, "VOICE_LIVE_AUTH_MODE") or "entra").lower()
    if mode not in VOICE_AUTH_MODES:
        raise ConfigError(f"VOICE_LIVE_AUTH_MODE must be 'entra' or 'key', got {mode!r}")
    return VoiceSettings(
        endpoint=_http_url("VOICE_LIVE_ENDPOINT", endpoint, https_only=True) if endpoint else None,
        api_version=_get(env, "VOICE_LIVE_API_VERSION") or DEFAULT_VOICE_LIVE_API_VERSION,
        model=_get(env, "VOICE_LIVE_MODEL") or DEFAULT_VOICE_LIVE_MODEL,
        voice=_get(env, "VOICE_LIVE_VOICE") or DEFAULT_VOICE_LIVE_VOICE,
        auth_mode=mode,
        token_identity_client_id=_get(env, "VOICE_TOKEN_IDENTITY_CLIENT_ID"),
    )


def _agents(env: Mapping[str, str]) -> AgentRegistrySettings:
    urls = tuple(u.strip() for u in (_get(env, "A2A_AGENT_URLS") or "").split(",") if u.strip())
    for url in urls:
        _http_url("A2A_AGENT_URLS", url)
    hosts = (_get(env, "AGENT_URL_ALLOWLIST") or "").split(",")
    identities = (_get(env, "AGENT_ADMISSION_ALLOWLIST") or "").split(",")
    return AgentRegistrySettings(
        bootstrap_urls=urls,
        url_allowlist=frozenset(h.strip().lower() for h in hosts if h.strip()),
        admission_allowlist=frozenset(i.strip() for i in identities if i.strip()),
        expiry_minutes=_positive_int("AGENT_EXPIRY_MINUTES", _get(env, "AGENT_EXPIRY_MINUTES"), 10),
        probe_timeout_seconds=_positive_float(
            "AGENT_PROBE_TIMEOUT_SECONDS", _get(env, "AGENT_PROBE_TIMEOUT_SECONDS"), 3.0
        ),
        card_max_bytes=_positive_int(
            "AGENT_CARD_MAX_BYTES", _get(env, "AGENT_CARD_MAX_BYTES"), 256 * 1024
        ),
    )


def _delegation(env: Mapping[str, str]) -> DelegationSettings:
    def number(name: str, default: float) -> float:
        return _positive_float(name, _get(env, name), default)

    return DelegationSettings(
        sync_wait_seconds=number("VOICE_SYNC_WAIT_SECONDS", 8.0),
        agent_timeout_seconds=number("AGENT_TIMEOUT_SECONDS", 6.0),
        retry_max_attempts=_positive_int(
            "AGENT_RETRY_MAX_ATTEMPTS", _get(env, "AGENT_RETRY_MAX_ATTEMPTS"), 3
        ),
        retry_first_seconds=number("AGENT_RETRY_FIRST_SECONDS", 1.0),
        retry_max_seconds=number("AGENT_RETRY_MAX_SECONDS", 4.0),
        approval_timeout_minutes=number("APPROVAL_TIMEOUT_MINUTES", 10.0),
        response_max_bytes=_positive_int(
            "A2A_RESPONSE_MAX_BYTES", _get(env, "A2A_RESPONSE_MAX_BYTES"), 1024 * 1024
        ),
        turn_deadline_seconds=number("TURN_DEADLINE_SECONDS", 20.0),
        history_retry_minutes=number("HISTORY_RETRY_MINUTES", 15.0),
        agent_audiences=frozenset(
            a.strip() for a in (_get(env, "A2A_AGENT_AUDIENCES") or "").split(",") if a.strip()
        ),
    )


def _telemetry(env: Mapping[str, str]) -> TelemetrySettings:
    auth = _get(env, "APPLICATIONINSIGHTS_AUTHENTICATION_STRING")
    try:
        auth_parts = parse_connection_string(auth) if auth else {}
    except ValueError:
        auth_parts = {"authorization": "?"}
    if auth_parts and auth_parts.get("authorization", "").lower() != "aad":
        raise ConfigError(
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING must look like "
            "'Authorization=AAD' or 'ClientId=<client id>;Authorization=AAD'"
        )
    level = _get(env, "LOG_LEVEL")
    if level is not None and level.upper() not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    log_format = (_get(env, "LOG_FORMAT") or "json").lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be 'json' or 'text', got {log_format!r}")
    exporter = _get(env, "OTEL_TRACES_EXPORTER")
    return TelemetrySettings(
        connection_string=_get(env, "APPLICATIONINSIGHTS_CONNECTION_STRING"),
        aad=bool(auth_parts),
        aad_client_id=auth_parts.get("clientid") or None,
        traces_exporter=exporter.lower() if exporter else None,
        log_level=level.upper() if level else None,
        log_format=log_format,
    )


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build and validate Settings from a mapping of environment variables."""
    endpoint = _get(env, "WEBPUBSUB_ENDPOINT")
    key_vault_url = _get(env, "KEY_VAULT_URL")
    return Settings(
        app_version=_get(env, "APP_VERSION") or DEFAULT_APP_VERSION,
        storage=_storage(env),
        webpubsub_connection_string=_webpubsub_connection_string(env),
        webpubsub_endpoint=_http_url("WEBPUBSUB_ENDPOINT", endpoint) if endpoint else None,
        webpubsub_hub=_webpubsub_hub(env),
        webpubsub_token_minutes=_positive_int(
            "WEBPUBSUB_TOKEN_MINUTES", _get(env, "WEBPUBSUB_TOKEN_MINUTES"), 30
        ),
        events_publish_timeout_seconds=_positive_float(
            "EVENTS_PUBLISH_TIMEOUT_SECONDS", _get(env, "EVENTS_PUBLISH_TIMEOUT_SECONDS"), 2.0
        ),
        events_batch_budget_seconds=_positive_float(
            "EVENTS_BATCH_BUDGET_SECONDS", _get(env, "EVENTS_BATCH_BUDGET_SECONDS"), 5.0
        ),
        key_vault_url=(
            _http_url("KEY_VAULT_URL", key_vault_url, https_only=True) if key_vault_url else None
        ),
        managed_identity_client_id=_get(env, "AZURE_CLIENT_ID"),
        max_request_body_bytes=_positive_int(
            "MAX_REQUEST_BODY_BYTES",
            _get(env, "MAX_REQUEST_BODY_BYTES"),
            DEFAULT_MAX_REQUEST_BODY_BYTES,
        ),
        health_check_timeout_seconds=_positive_float(
            "HEALTH_CHECK_TIMEOUT_SECONDS",
            _get(env, "HEALTH_CHECK_TIMEOUT_SECONDS"),
            DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS,
        ),
        auth=_auth(env),
        secret_cache=SecretCacheSettings(
            ttl_seconds=_positive_float(
                "SECRET_CACHE_TTL_SECONDS", _get(env, "SECRET_CACHE_TTL_SECONDS"), 300.0
            ),
            grace_seconds=_positive_float(
                "SECRET_CACHE_GRACE_SECONDS", _get(env, "SECRET_CACHE_GRACE_SECONDS"), 600.0
            ),
        ),
        voice=_voice(env),
        agents=_agents(env),
        delegation=_delegation(env),
        telemetry=_telemetry(env),
        rate_limits=RateLimitSettings(
            voice_token_per_minute=_positive_int(
                "RATE_LIMIT_VOICE_TOKEN_PER_MINUTE",
                _get(env, "RATE_LIMIT_VOICE_TOKEN_PER_MINUTE"),
                10,
            )
        ),
    )


@functools.cache
def get_settings() -> Settings:
    """Return the process-wide Settings, built from os.environ on first use."""
    return load_settings(os.environ)


def reset_settings() -> None:
    """Forget the cached Settings so the next get_settings() re-reads the environment (tests)."""
    get_settings.cache_clear()
