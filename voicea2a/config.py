"""The one typed settings object, read once from the environment and validated.

Each setting is declared once, on the field it fills (`setting(...)` or `optional(...)`): its
name, parser (type and bounds), default, one-line doc, scope and whether it is secret. Loading,
defaults, error messages, `SETTINGS` and `SETTING_NAMES` all come from those declarations.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
Group = TypeVar("Group", bound="DataclassInstance")

# Where a setting's value comes from, in Azure and locally.
APP = "app"  # an app setting, in Bicep and in local.settings.example.json
PLATFORM = "platform"  # set by Azure itself; never in a template or a local file
LOCAL = "local"  # local development only; in Azure the value comes from Key Vault or stays off
HOST = "host"  # read by the Functions host (or host.json), not by the app's code


# The settings groups below are frozen but not comparable (eq=False): nothing compares settings,
# and generating __eq__ and __hash__ for every group costs cold start about 4 ms.


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it (never a secret value)."""


# --- parsers: what a value may look like -------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Parser(Generic[T]):
    """How one kind of value is read: `convert` raises ValueError for a value it refuses."""

    expected: str  # ends the error message "<NAME> must be ..."
    convert: Callable[[str], T]


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _bool(value: str) -> bool:
    """true/false/1/0/yes/no, any case."""
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(value)


def _positive_int(value: str) -> int:
    """An integer of at least 1."""
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _positive_number(value: str) -> float:
    """A finite number above 0."""
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(value)
    return number


def _url(value: str, *, https_only: bool) -> str:
    """An http(s) URL with a host, without its trailing slash."""
    url = urlsplit(value)
    # Plain http is fine on this machine's loopback (local identity providers in tests).
    secure_only = https_only and url.hostname not in _LOOPBACK_HOSTS
    if url.scheme not in (("https",) if secure_only else ("http", "https")) or not url.hostname:
        raise ValueError(value)
    return value.rstrip("/")


def _items(value: str) -> list[str]:
    """The non-blank items of a comma-separated list."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _http_urls(value: str) -> tuple[str, ...]:
    """A comma-separated list of http(s) URLs."""
    return tuple(_url(item, https_only=False) for item in _items(value))


def _names(value: str) -> frozenset[str]:
    """A comma-separated set of names."""
    return frozenset(_items(value))


def _host_names(value: str) -> frozenset[str]:
    """A comma-separated set of host names, lower-cased."""
    return frozenset(item.lower() for item in _items(value))


def _matching(pattern: str, expected: str) -> Parser[str]:
    """Text that matches `pattern` as a whole."""
    compiled = re.compile(pattern)

    def convert(value: str) -> str:
        """The value itself, when it matches."""
        if not compiled.fullmatch(value):
            raise ValueError(value)
        return value

    return Parser(expected, convert)


def _int_between(low: int, high: int) -> Parser[int]:
    """An integer from `low` to `high`."""

    def convert(value: str) -> int:
        """The number, when it is in range."""
        number = int(value)
        if not low <= number <= high:
            raise ValueError(value)
        return number

    return Parser(f"an integer from {low} to {high}", convert)


def _one_of(options: tuple[str, ...], fold: Callable[[str], str]) -> Parser[str]:
    """One of `options`, compared after `fold` (str.lower or str.upper)."""

    def convert(value: str) -> str:
        """The folded value, when it is one of the options."""
        folded = fold(value)
        if folded not in options:
            raise ValueError(value)
        return folded

    return Parser(f"one of {', '.join(options)}", convert)


TEXT = Parser("text", str)
LOWERCASE = Parser("text", str.lower)
# Only whether it is set counts (WEBSITE_INSTANCE_ID), so any value is accepted.
PRESENT = Parser("set", lambda _value: True)
BOOL = Parser("one of true/false/1/0/yes/no", _bool)
POSITIVE_INT = Parser("a positive integer", _positive_int)
POSITIVE_NUMBER = Parser("a positive number", _positive_number)
HTTP_URL = Parser("an http(s):// URL", functools.partial(_url, https_only=False))
HTTPS_URL = Parser("an https:// URL", functools.partial(_url, https_only=True))
HTTP_URLS = Parser("comma-separated http(s):// URLs", _http_urls)
NAMES = Parser("comma-separated names", _names)
HOST_NAMES = Parser("comma-separated host names", _host_names)
HUB_NAME = _matching(
    r"[A-Za-z][A-Za-z0-9_]*", "a letter followed by letters, digits or underscores"
)
PLAYBOOK_NAME = _matching(
    r"[a-z0-9]+(?:-[a-z0-9]+)*", "a file name under playbooks/ without .json, like contoso"
)
ACCOUNT_NAME = _matching(r"[a-z0-9]{3,24}", "3-24 lowercase letters or digits")


# --- declarations ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SettingSpec:
    """One environment variable: name, doc line, parser, default, and where and how it is set."""

    name: str
    doc: str
    parser: Parser[Any] = TEXT
    default: Any = None
    required: bool = False
    scope: str = APP
    # Never shown: left out of the settings' repr and of error messages.
    secret: bool = False

    def read(self, env: Mapping[str, str]) -> Any:
        """The parsed value in `env`, else the default; a refused value is a ConfigError."""
        # An empty value means "not set": local.settings.json lists optional settings as "".
        value = env.get(self.name, "").strip()
        if not value:
            return self.default
        try:
            return self.parser.convert(value)
        except ValueError:
            got = "" if self.secret else f", got {value!r}"
            raise ConfigError(f"{self.name} must be {self.parser.expected}{got}") from None


_SPEC = "voicea2a.setting"
_GROUP = "voicea2a.group"


def setting(
    name: str, parser: Parser[T], default: T, doc: str, *, scope: str = APP, secret: bool = False
) -> T:
    """Declare the field that setting `name` fills (`default` while it is unset)."""
    spec = SettingSpec(name, doc, parser, default, scope=scope, secret=secret)
    return field(default=default, repr=not secret, metadata={_SPEC: spec})


def optional(
    name: str, parser: Parser[T], doc: str, *, scope: str = APP, secret: bool = False
) -> T | None:
    """Declare the field that setting `name` fills (None while it is unset)."""
    spec = SettingSpec(name, doc, parser, scope=scope, secret=secret)
    return field(default=None, repr=not secret, metadata={_SPEC: spec})


def group(cls: type[Group]) -> Group:
    """Declare a field holding one group of settings, read from the same environment."""
    return field(default_factory=cls, metadata={_GROUP: cls})


def parse_connection_string(value: str) -> Mapping[str, str]:
    """`Key=Value;...` by azure-core's rules: keys lower-cased; a segment without a value, a
    blank string or a duplicate key is a ValueError."""
    # Imported on first use: azure.core adds tens of milliseconds to the cold start, and the app
    # imports it anyway when it first reaches storage or Web PubSub, where these strings are read.
    from azure.core.utils import parse_connection_string as parse

    return parse(value)


def _webpubsub_endpoint(connection_string: str) -> str:
    """The endpoint of a Web PubSub connection string, built as the SDK builds it (`Port=`
    appended); ValueError without an AccessKey or an http(s) endpoint carrying that port."""
    parts = parse_connection_string(connection_string)
    endpoint = parts.get("endpoint", "").rstrip("/")
    port = parts.get("port")
    if port is not None:
        endpoint = f"{endpoint}:{port}"
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname or "accesskey" not in parts:
        raise ValueError("not a Web PubSub connection string")
    # An Endpoint with a port or path of its own garbles the SDK's appended Port: refused, so the
    # app, the SDK and the devhost always agree on the endpoint (the audience of its tokens).
    if port is not None and str(url.port) != port:
        raise ValueError("Port does not fit the Endpoint")
    return endpoint


# --- the settings ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StorageSettings:
    """How to reach the Table service: a connection string, or an endpoint plus identity."""

    raw_connection_string: str | None = optional(
        "AzureWebJobsStorage",
        TEXT,
        "Storage connection string (UseDevelopmentStorage=true: Azurite), checked on first use.",
        scope=LOCAL,
        secret=True,
    )
    table_endpoint: str | None = optional(
        "AzureWebJobsStorage__tableServiceUri",
        HTTP_URL,
        "Table endpoint of the identity-based form, used without a connection string.",
    )
    account_name: str | None = optional(
        "AzureWebJobsStorage__accountName",
        ACCOUNT_NAME,
        "Storage account of the identity-based form, when the Table endpoint is unset.",
    )
    client_id: str | None = optional(
        "AzureWebJobsStorage__clientId",
        TEXT,
        "User-assigned identity of the identity-based form (unset: the system-assigned one).",
    )

    @property
    def uses_identity(self) -> bool:
        """True when the identity-based (managed identity) form is in use."""
        return self.raw_connection_string is None

    @property
    def table_service_uri(self) -> str | None:
        """The Table endpoint of the identity-based form: given, or the account's."""
        if self.table_endpoint is None and self.account_name is not None:
            return f"https://{self.account_name}.table.core.windows.net"
        return self.table_endpoint

    @functools.cached_property
    def connection_string(self) -> str | None:
        """The connection string, checked here (the Azurite shortcut in the one spelling the
        Tables SDK recognises)."""
        if self.raw_connection_string is None:
            return None
        try:
            parts = parse_connection_string(self.raw_connection_string)
        except ValueError:
            parts = {}
        if parts.get("usedevelopmentstorage", "").lower() == "true":
            return "UseDevelopmentStorage=true"
        if "accountname" not in parts and "tableendpoint" not in parts:
            # Never echo a connection string: it carries the account key.
            raise ConfigError(
                "AzureWebJobsStorage must be a storage connection string with AccountName or "
                "TableEndpoint, or UseDevelopmentStorage=true"
            )
        return self.raw_connection_string


@dataclass(frozen=True, eq=False)
class AuthSettings:
    """Who may call the API: the Entra (OIDC) issuer, our own app tokens, the dev sign-in."""

    oidc_issuer: str | None = optional(
        "AUTH_OIDC_ISSUER", HTTPS_URL, "Entra ID (OIDC) issuer whose tokens the API accepts."
    )
    oidc_audience: str | None = optional(
        "AUTH_OIDC_AUDIENCE", TEXT, "Audience (`aud`) the Entra tokens must carry."
    )
    app_issuer: str = setting(
        "AUTH_APP_ISSUER", TEXT, "voicea2a", "`iss` of the app's own HS256 tokens."
    )
    app_audience: str = setting(
        "AUTH_APP_AUDIENCE", TEXT, "voicea2a-api", "`aud` of the app's own HS256 tokens."
    )
    dev_login_enabled: bool = setting(
        "AUTH_DEV_LOGIN_ENABLED", BOOL, False, "Enables the dev sign-in endpoint."
    )
    dev_login_allow_in_azure: bool = setting(
        "AUTH_DEV_LOGIN_ALLOW_IN_AZURE",
        BOOL,
        False,
        "Lets the dev sign-in run in Azure (throw-away environments only).",
        scope=LOCAL,
    )
    client_id: str | None = optional(
        "AUTH_CLIENT_ID", TEXT, "The browser's Entra app registration (MSAL); public."
    )
    authority: str | None = optional("AUTH_AUTHORITY", HTTPS_URL, "The browser's MSAL authority.")
    api_scope: str | None = optional(
        "AUTH_API_SCOPE", TEXT, "The scope the browser asks its tokens for."
    )
    # App Service sets WEBSITE_INSTANCE_ID on every instance it runs, Functions included.
    running_in_azure: bool = setting(
        "WEBSITE_INSTANCE_ID", PRESENT, False, "Set by Azure: the app runs there.", scope=PLATFORM
    )


@dataclass(frozen=True, eq=False)
class SecretCacheSettings:
    """How long secrets are cached, and how long a cached one may outlive a Key Vault outage."""

    ttl_seconds: float = setting(
        "SECRET_CACHE_TTL_SECONDS", POSITIVE_NUMBER, 300.0, "How long a secret is cached."
    )
    grace_seconds: float = setting(
        "SECRET_CACHE_GRACE_SECONDS",
        POSITIVE_NUMBER,
        600.0,
        "How long past its TTL a cached secret is served while Key Vault fails.",
    )


@dataclass(frozen=True, eq=False)
class VoiceSettings:
    """The Voice Live resource the browser connects to, and how its credential is minted."""

    endpoint: str | None = optional(
        "VOICE_LIVE_ENDPOINT", HTTPS_URL, "The Voice Live resource (unset: text mode only)."
    )
    api_version: str = setting(
        "VOICE_LIVE_API_VERSION", TEXT, "2026-07-15", "Voice Live API version of the browser."
    )
    model: str = setting(
        "VOICE_LIVE_MODEL", TEXT, "gpt-realtime", "Model the browser asks Voice Live for."
    )
    voice: str = setting(
        "VOICE_LIVE_VOICE",
        TEXT,
        "en-US-Ava:DragonHDLatestNeural",
        "Azure standard voice of the session.",
    )
    auth_mode: str = setting(
        "VOICE_LIVE_AUTH_MODE",
        _one_of(("entra", "key"), str.lower),
        "entra",
        "`entra`: short-lived Entra tokens; `key`: the API key (development only).",
    )
    token_identity_client_id: str | None = optional(
        "VOICE_TOKEN_IDENTITY_CLIENT_ID", TEXT, "The user-assigned identity minting voice tokens."
    )
    # Voice Live is billed while a session is open: the page closes one nobody uses.
    idle_minutes: float = setting(
        "VOICE_IDLE_MINUTES",
        POSITIVE_NUMBER,
        5.0,
        "Minutes without speech or a pending tool call after which the page ends a voice session.",
    )


@dataclass(frozen=True, eq=False)
class RateLimitSettings:
    """Per-user (or per-IP) request budgets of the token routes."""

    voice_token_per_minute: int = setting(
        "RATE_LIMIT_VOICE_TOKEN_PER_MINUTE",
        POSITIVE_INT,
        10,
        "Token requests per user (dev sign-in: per client IP) per minute.",
    )
    latency_reports_per_minute: int = setting(
        "RATE_LIMIT_LATENCY_REPORTS_PER_MINUTE",
        POSITIVE_INT,
        30,
        "Voice latency reports (POST /api/metrics/voice-latency) per user per minute.",
    )


@dataclass(frozen=True, eq=False)
class AgentRegistrySettings:
    """Which agents may join the network and how their health is watched."""

    bootstrap_urls: tuple[str, ...] = setting(
        "A2A_AGENT_URLS",
        HTTP_URLS,
        (),
        "Agent base URLs the health job registers even if they never register themselves.",
    )
    url_allowlist: frozenset[str] = setting(
        "AGENT_URL_ALLOWLIST",
        HOST_NAMES,
        frozenset(),
        "Hosts let past the SSRF guard (plain http, private or loopback addresses): local use.",
    )
    admission_allowlist: frozenset[str] = setting(
        "AGENT_ADMISSION_ALLOWLIST",
        NAMES,
        frozenset(),
        "Identities (token subjects) whose registrations are admitted without a supervisor.",
    )
    expiry_minutes: int = setting(
        "AGENT_EXPIRY_MINUTES",
        POSITIVE_INT,
        10,
        "An agent neither registered nor answering a probe this long is removed.",
    )
    probe_timeout_seconds: float = setting(
        "AGENT_PROBE_TIMEOUT_SECONDS", POSITIVE_NUMBER, 3.0, "Time limit of one health probe."
    )
    card_max_bytes: int = setting(
        "AGENT_CARD_MAX_BYTES", POSITIVE_INT, 256 * 1024, "Largest agent card accepted."
    )
    failures_before_unhealthy: int = 3


class LimitsJson(TypedDict):
    """The delegation limits as an orchestration carries them (`DelegationSettings.to_json`)."""

    agentTimeoutSeconds: float
    agentStreamTimeoutSeconds: float
    agentStreamSilenceSeconds: float
    retryMaxAttempts: int
    retryFirstSeconds: float
    retryMaxSeconds: float
    approvalTimeoutMinutes: float
    responseMaxBytes: int
    turnDeadlineSeconds: float
    historyRetryMinutes: float


@dataclass(frozen=True, eq=False)
class DelegationSettings:
    """How long a voice turn waits, and how specialists are retried, timed out and approved."""

    sync_wait_seconds: float = setting(
        "VOICE_SYNC_WAIT_SECONDS",
        POSITIVE_NUMBER,
        8.0,
        "How long POST /api/messages waits for the answer before answering 202.",
    )
    agent_timeout_seconds: float = setting(
        "AGENT_TIMEOUT_SECONDS",
        POSITIVE_NUMBER,
        6.0,
        "Deadline of one specialist call, retries included.",
    )
    stream_timeout_seconds: float = setting(
        "AGENT_STREAM_TIMEOUT_SECONDS",
        POSITIVE_NUMBER,
        20.0,
        "Deadline of one call to a streaming agent, retries included (never past the turn's).",
    )
    stream_silence_seconds: float = setting(
        "AGENT_STREAM_SILENCE_SECONDS",
        POSITIVE_NUMBER,
        6.0,
        "A streaming agent that sends no event for this long has timed out.",
    )
    retry_max_attempts: int = setting(
        "AGENT_RETRY_MAX_ATTEMPTS", POSITIVE_INT, 3, "Attempts per specialist call."
    )
    retry_first_seconds: float = setting(
        "AGENT_RETRY_FIRST_SECONDS",
        POSITIVE_NUMBER,
        1.0,
        "First back-off between attempts; it doubles each time.",
    )
    retry_max_seconds: float = setting(
        "AGENT_RETRY_MAX_SECONDS", POSITIVE_NUMBER, 4.0, "Cap of the back-off."
    )
    approval_timeout_minutes: float = setting(
        "APPROVAL_TIMEOUT_MINUTES",
        POSITIVE_NUMBER,
        10.0,
        "How long an agent's question for a person waits for a supervisor.",
    )
    response_max_bytes: int = setting(
        "A2A_RESPONSE_MAX_BYTES", POSITIVE_INT, 1024 * 1024, "Largest reply accepted from an agent."
    )
    turn_deadline_seconds: float = setting(
        "TURN_DEADLINE_SECONDS",
        POSITIVE_NUMBER,
        20.0,
        "Agent work of one turn, all stages together (a person's approval is not counted).",
    )
    history_retry_minutes: float = setting(
        "HISTORY_RETRY_MINUTES",
        POSITIVE_NUMBER,
        15.0,
        "How long recording a turn in the history is retried after the answer is out.",
    )
    max_agents_per_request: int = setting(
        "MAX_AGENTS_PER_REQUEST",
        # The request schema's own cap (voicea2a/messages.py MAX_AGENTS) is 20.
        _int_between(1, 20),
        6,
        "Most agents one POST /api/messages may name in `agents` (1 to 20).",
    )
    context_turns: int = setting(
        "CONTEXT_TURNS",
        _int_between(0, 5),
        1,
        "Earlier turns of the conversation an agent the voice model chose is sent (0 to 5).",
    )
    context_max_chars: int = setting(
        "CONTEXT_MAX_CHARS",
        _int_between(200, 4000),
        1500,
        "Most characters of those turns, the latest kept (200 to 4000).",
    )
    # A card cannot make the app's identity hand it a token for anything else (Key Vault, ARM).
    agent_audiences: frozenset[str] = setting(
        "A2A_AGENT_AUDIENCES",
        NAMES,
        frozenset(),
        "Entra audiences the app may get a token for to call an agent.",
    )

    def to_json(self) -> LimitsJson:
        """The values an orchestration carries in its input (so replays see the same ones)."""
        return {
            "agentTimeoutSeconds": self.agent_timeout_seconds,
            "agentStreamTimeoutSeconds": self.stream_timeout_seconds,
            "agentStreamSilenceSeconds": self.stream_silence_seconds,
            "retryMaxAttempts": self.retry_max_attempts,
            "retryFirstSeconds": self.retry_first_seconds,
            "retryMaxSeconds": self.retry_max_seconds,
            "approvalTimeoutMinutes": self.approval_timeout_minutes,
            "responseMaxBytes": self.response_max_bytes,
            "turnDeadlineSeconds": self.turn_deadline_seconds,
            "historyRetryMinutes": self.history_retry_minutes,
        }


@dataclass(frozen=True, eq=False)
class TelemetrySettings:
    """Where logs, traces and metrics go (voicea2a/telemetry/)."""

    # Not a secret strictly (it names the resource), but there is no reason to print it.
    connection_string: str | None = optional(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        TEXT,
        "Application Insights resource (unset: nothing is exported).",
        secret=True,
    )
    authentication_string: str | None = optional(
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        TEXT,
        "`ClientId=<id>;Authorization=AAD`: export with an identity; checked on first use.",
    )
    traces_exporter: str | None = optional(
        "OTEL_TRACES_EXPORTER",
        LOWERCASE,
        "`console`: print spans without a connection string; `none`: no spans.",
    )
    log_level: str | None = optional(
        "LOG_LEVEL",
        _one_of(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), str.upper),
        "Level of the app's own loggers (unset: the host's).",
    )
    log_format: str = setting(
        "LOG_FORMAT",
        _one_of(("json", "text"), str.lower),
        "json",
        "`json`: one JSON object per line; `text`: readable lines for local runs.",
    )

    @functools.cached_property
    def _authentication(self) -> Mapping[str, str]:
        """The parsed authentication string, checked here ({} when it is unset)."""
        if self.authentication_string is None:
            return {}
        try:
            parts = parse_connection_string(self.authentication_string)
        except ValueError:
            parts = {}
        if parts.get("authorization", "").lower() != "aad":
            raise ConfigError(
                "APPLICATIONINSIGHTS_AUTHENTICATION_STRING must look like "
                "'Authorization=AAD' or 'ClientId=<client id>;Authorization=AAD'"
            )
        return parts

    @property
    def aad(self) -> bool:
        """True when telemetry is exported with an Entra identity (`Authorization=AAD`)."""
        return bool(self._authentication)

    @property
    def aad_client_id(self) -> str | None:
        """The identity the authentication string names (None: the app's own)."""
        return self._authentication.get("clientid")


@dataclass(frozen=True, eq=False)
class Settings:
    """Everything the app reads from its environment, validated."""

    app_version: str = setting(
        "APP_VERSION",
        TEXT,
        # Keep in step with [project].version in pyproject.toml (a unit test checks it).
        "0.1.0",
        "Version reported by GET /api/health.",
    )
    storage: StorageSettings = group(StorageSettings)
    webpubsub_connection_string: str | None = optional(
        "WEBPUBSUB_CONNECTION_STRING",
        TEXT,
        "Web PubSub connection string (`Port=` honoured), checked on first use.",
        scope=LOCAL,
        secret=True,
    )
    webpubsub_endpoint: str | None = optional(
        "WEBPUBSUB_ENDPOINT",
        HTTP_URL,
        "Web PubSub endpoint for the managed-identity form (no key).",
    )
    webpubsub_hub: str = setting("WEBPUBSUB_HUB", HUB_NAME, "voicea2a", "Web PubSub hub name.")
    webpubsub_token_minutes: int = setting(
        "WEBPUBSUB_TOKEN_MINUTES", POSITIVE_INT, 30, "Lifetime of the Web PubSub client tokens."
    )
    events_publish_timeout_seconds: float = setting(
        "EVENTS_PUBLISH_TIMEOUT_SECONDS",
        POSITIVE_NUMBER,
        2.0,
        "Time limit of each attempt to publish an event.",
    )
    events_batch_budget_seconds: float = setting(
        "EVENTS_BATCH_BUDGET_SECONDS",
        POSITIVE_NUMBER,
        5.0,
        "Time limit of one batch of a delegation's events, all sends together.",
    )
    key_vault_url: str | None = optional(
        "KEY_VAULT_URL", HTTPS_URL, "Key Vault of the secrets (unset: environment variables)."
    )
    managed_identity_client_id: str | None = optional(
        "AZURE_CLIENT_ID",
        TEXT,
        "The app's user-assigned identity (Key Vault, Web PubSub); unset: the system-assigned.",
    )
    max_request_body_bytes: int = setting(
        "MAX_REQUEST_BODY_BYTES", POSITIVE_INT, 65536, "Largest accepted JSON request body."
    )
    health_check_timeout_seconds: float = setting(
        "HEALTH_CHECK_TIMEOUT_SECONDS",
        POSITIVE_NUMBER,
        2.0,
        "Time limit of each dependency check of GET /api/health.",
    )
    playbook: str = setting(
        "PLAYBOOK",
        PLAYBOOK_NAME,
        "",
        "The workflow the planner, answers, voice tool and page follow: playbooks/<name>.json "
        "(read and checked at start-up); unset: none, the voice model or the generic matcher "
        "chooses the agents.",
    )
    auth: AuthSettings = group(AuthSettings)
    secret_cache: SecretCacheSettings = group(SecretCacheSettings)
    voice: VoiceSettings = group(VoiceSettings)
    rate_limits: RateLimitSettings = group(RateLimitSettings)
    agents: AgentRegistrySettings = group(AgentRegistrySettings)
    delegation: DelegationSettings = group(DelegationSettings)
    telemetry: TelemetrySettings = group(TelemetrySettings)

    @functools.cached_property
    def webpubsub_service_endpoint(self) -> str | None:
        """The Web PubSub base URL (no trailing slash), from the connection string (checked
        here) or the endpoint."""
        if self.webpubsub_connection_string is None:
            return self.webpubsub_endpoint
        try:
            return _webpubsub_endpoint(self.webpubsub_connection_string)
        except ValueError:
            raise ConfigError(
                "WEBPUBSUB_CONNECTION_STRING must look like "
                "'Endpoint=https://<name>.webpubsub.azure.com;AccessKey=<key>;Version=1.0;'"
            ) from None


# Read by the Functions host (host.json, binding expressions), never by the app's code.
HOST_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("FUNCTIONS_WORKER_RUNTIME", "Always `python`.", required=True, scope=HOST),
    SettingSpec("TASKHUB_NAME", "Durable Functions task hub name.", required=True, scope=HOST),
    SettingSpec(
        "AzureWebJobsStorage__blobServiceUri", "Blob endpoint of identity storage.", scope=HOST
    ),
    SettingSpec(
        "AzureWebJobsStorage__queueServiceUri", "Queue endpoint of identity storage.", scope=HOST
    ),
    SettingSpec(
        "AzureWebJobsStorage__credential", "`managedidentity` for identity storage.", scope=HOST
    ),
    SettingSpec(
        "AGENT_HEALTH_SCHEDULE", "NCRONTAB schedule of the agent health probe.", required=True
    ),
)


def _declared(cls: type[DataclassInstance]) -> Iterator[SettingSpec]:
    """The settings declared on `cls` and its groups, in declaration order."""
    for item in dataclasses.fields(cls):
        if _SPEC in item.metadata:
            yield item.metadata[_SPEC]
        elif _GROUP in item.metadata:
            yield from _declared(item.metadata[_GROUP])


# Every environment variable the app or its host reads (the settings table in README.md
# documents each, a unit test checks it).
SETTINGS: tuple[SettingSpec, ...] = (*_declared(Settings), *HOST_SETTINGS)
SETTING_NAMES = tuple(spec.name for spec in SETTINGS)

# Secrets, read through voicea2a.secrets: Key Vault secret `name` in Azure, the environment
# variable UPPER_SNAKE locally (`required`: the app cannot serve its core routes without it).
SECRETS: tuple[SettingSpec, ...] = (
    SettingSpec("auth-signing-key", "HS256 key of the app's tokens.", required=True, secret=True),
    SettingSpec(
        "auth-signing-key-previous", "The key before a rotation, still accepted.", secret=True
    ),
    SettingSpec("voice-live-api-key", "Voice Live key for `key` mode.", secret=True),
)


# --- loading -----------------------------------------------------------------------------------


def _load(cls: type[Group], env: Mapping[str, str]) -> Group:
    """`cls` with each declared field read from `env` (groups recursively)."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if _SPEC in item.metadata:
            values[item.name] = item.metadata[_SPEC].read(env)
        elif _GROUP in item.metadata:
            values[item.name] = _load(item.metadata[_GROUP], env)
    return cls(**values)


def _check_storage(storage: StorageSettings) -> None:
    """One of the storage forms is required."""
    if storage.uses_identity and storage.table_service_uri is None:
        raise ConfigError(
            "AzureWebJobsStorage is required: a connection string (UseDevelopmentStorage=true "
            "locally), or AzureWebJobsStorage__tableServiceUri for a managed identity"
        )


def _check_auth(auth: AuthSettings) -> None:
    """The OIDC pair goes together; the dev sign-in stays out of Azure unless allowed."""
    if (auth.oidc_issuer is None) != (auth.oidc_audience is None):
        raise ConfigError("AUTH_OIDC_ISSUER and AUTH_OIDC_AUDIENCE must be set together")
    if auth.dev_login_enabled and auth.running_in_azure and not auth.dev_login_allow_in_azure:
        raise ConfigError(
            "AUTH_DEV_LOGIN_ENABLED=true is refused when running in Azure (WEBSITE_INSTANCE_ID "
            "is set); set AUTH_DEV_LOGIN_ALLOW_IN_AZURE=true only for a throw-away environment"
        )


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build and validate Settings from a mapping of environment variables (connection strings
    are checked where first read: parsing them needs azure-core, kept off the cold start)."""
    settings = _load(Settings, env)
    _check_storage(settings.storage)
    _check_auth(settings.auth)
    return settings


@functools.cache
def get_settings() -> Settings:
    """Return the process-wide Settings, built from os.environ on first use."""
    return load_settings(os.environ)


def reset_settings() -> None:
    """Forget the cached Settings so the next get_settings() re-reads the environment (tests)."""
    get_settings.cache_clear()
