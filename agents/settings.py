"""The sample agents' settings, read once from the environment and validated.

| setting                                  | default               | meaning                      |
|------------------------------------------|-----------------------|------------------------------|
| FUNCTION_APP_URL                         | http://127.0.0.1:7071 | app the agents register with |
| AGENT_REGISTRATION_ENABLED               | true                  | register on a heartbeat      |
| AGENT_HEARTBEAT_SECONDS                  | 60                    | seconds between registrations|
| AGENT_REGISTRATION_RETRY_INITIAL_SECONDS | 1                     | first retry delay            |
| AGENT_REGISTRATION_RETRY_MAX_SECONDS     | 30                    | cap of the retry delay       |
| AGENT_AUTH_MODE                          | dev                   | dev: the app's dev-token     |
|                                          |                       | route; entra: managed id.    |
| AGENT_REGISTRATION_SCOPE                 | (none)                | token scope; needed by entra |
| AGENT_PUBLIC_BASE_URL                    | http://<host>:<port>  | advertised URL template (1)  |
| AUTH_SIGNING_KEY                         | (none)                | the app's HS256 key: accept  |
|                                          |                       | its tokens (3)               |
| AUTH_APP_ISSUER                          | voicea2a              | the app's `iss`; default of: |
| AGENT_TOKEN_ISSUER                       | AUTH_APP_ISSUER       | their `iss`                  |
| AGENT_TOKEN_AUDIENCE                     | a2a-agents            | their `aud`                  |
| AGENT_ENTRA_ISSUER                       | (none)                | accept Entra tokens from it  |
| AGENT_ENTRA_AUDIENCE                     | (none)                | for this audience (app id    |
|                                          |                       | URI), keys from:             |
| AGENT_ENTRA_JWKS_URL                     | (none)                | the issuer's JWKS (https)    |
| AGENT_ENTRA_ROLE                         | (none)                | app role Entra tokens need   |
| AGENT_API_KEY                            | (none)                | accept this X-API-Key        |
| AGENT_FAULTS_ENABLED                     | false                 | serve GET/POST /_faults      |
| AGENT_FAULT_LATENCY_MS                   | 0                     | fault knobs in force from    |
| AGENT_FAULT_FAILURE_RATE                 | 0                     | the start (2)                |
| AGENT_FAULT_FAILURE_MODE                 | jsonrpc               |                              |
| AGENT_FAULT_MALFORMED_RATE               | 0                     |                              |
| AGENT_FAULT_HANG                         | false                 |                              |
| AGENT_FAULT_SEED                         | 0                     |                              |

(1) The base URL on the cards and in registrations; `{name}` and `{port}` are replaced, e.g.
    `https://{name}.contoso.example`. A wildcard --host advertises 127.0.0.1.
(2) Test-only; all off unless set. See agents/faults.py for what each does.
(3) Every A2A call needs one of the credentials configured here (agents/security.py; the card
    lists them); with none, every call is refused. The three AGENT_ENTRA_* go together.

An empty value means "not set".
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from agents.faults import FaultConfig, FaultConfigError
from agents.security import InboundAuth

AUTH_MODES = ("dev", "entra")
DEFAULT_FUNCTION_APP_URL = "http://127.0.0.1:7071"

SETTING_NAMES = (
    "FUNCTION_APP_URL",
    "AGENT_REGISTRATION_ENABLED",
    "AGENT_HEARTBEAT_SECONDS",
    "AGENT_REGISTRATION_RETRY_INITIAL_SECONDS",
    "AGENT_REGISTRATION_RETRY_MAX_SECONDS",
    "AGENT_AUTH_MODE",
    "AGENT_REGISTRATION_SCOPE",
    "AGENT_PUBLIC_BASE_URL",
    "AUTH_SIGNING_KEY",
    "AUTH_APP_ISSUER",
    "AGENT_TOKEN_ISSUER",
    "AGENT_TOKEN_AUDIENCE",
    "AGENT_ENTRA_ISSUER",
    "AGENT_ENTRA_AUDIENCE",
    "AGENT_ENTRA_JWKS_URL",
    "AGENT_ENTRA_ROLE",
    "AGENT_API_KEY",
    "AGENT_FAULTS_ENABLED",
    "AGENT_FAULT_LATENCY_MS",
    "AGENT_FAULT_FAILURE_RATE",
    "AGENT_FAULT_FAILURE_MODE",
    "AGENT_FAULT_MALFORMED_RATE",
    "AGENT_FAULT_HANG",
    "AGENT_FAULT_SEED",
)

_ENTRA_SETTINGS = ("AGENT_ENTRA_ISSUER", "AGENT_ENTRA_AUDIENCE", "AGENT_ENTRA_JWKS_URL")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class AgentConfigError(ValueError):
    """A setting is invalid; the message names it."""


@dataclass(frozen=True)
class AgentSettings:
    """Everything the sample agents read from their environment, validated."""

    function_app_url: str = DEFAULT_FUNCTION_APP_URL
    registration_enabled: bool = True
    heartbeat_seconds: float = 60.0
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    auth_mode: str = "dev"
    registration_scope: str | None = None
    public_base_url: str | None = None
    inbound: InboundAuth = field(default_factory=InboundAuth)
    faults_enabled: bool = False
    faults: FaultConfig = field(default_factory=FaultConfig)

    def advertised_url(self, name: str, host: str, port: int) -> str:
        """The base URL an agent advertises: the template filled in, or http://host:port."""
        if self.public_base_url:
            return self.public_base_url.format(name=name, port=port).rstrip("/")
        # A wildcard bind address is not something a caller can connect to.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{port}"


def load_settings(env: Mapping[str, str] | None = None) -> AgentSettings:
    """Read and validate the settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    settings = AgentSettings(
        function_app_url=_url(env, "FUNCTION_APP_URL") or DEFAULT_FUNCTION_APP_URL,
        registration_enabled=_bool(env, "AGENT_REGISTRATION_ENABLED", True),
        heartbeat_seconds=_seconds(env, "AGENT_HEARTBEAT_SECONDS", 60.0),
        retry_initial_seconds=_seconds(env, "AGENT_REGISTRATION_RETRY_INITIAL_SECONDS", 1.0),
        retry_max_seconds=_seconds(env, "AGENT_REGISTRATION_RETRY_MAX_SECONDS", 30.0),
        auth_mode=(_get(env, "AGENT_AUTH_MODE") or "dev").lower(),
        registration_scope=_get(env, "AGENT_REGISTRATION_SCOPE"),
        public_base_url=_public_base_url(env),
        inbound=_inbound(env),
        faults_enabled=_bool(env, "AGENT_FAULTS_ENABLED", False),
        faults=_faults(env),
    )
    if settings.auth_mode not in AUTH_MODES:
        raise AgentConfigError(f"AGENT_AUTH_MODE must be one of {', '.join(AUTH_MODES)}")
    if settings.auth_mode == "entra" and not settings.registration_scope:
        raise AgentConfigError("AGENT_REGISTRATION_SCOPE is required when AGENT_AUTH_MODE=entra")
    if settings.retry_max_seconds < settings.retry_initial_seconds:
        raise AgentConfigError(
            "AGENT_REGISTRATION_RETRY_MAX_SECONDS must not be below "
            "AGENT_REGISTRATION_RETRY_INITIAL_SECONDS"
        )
    return settings


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _get(env, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise AgentConfigError(f"{name} must be true or false")


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    value = _get(env, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise AgentConfigError(f"{name} must be a number") from None
    if not math.isfinite(number):
        raise AgentConfigError(f"{name} must be a finite number")
    return number


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    seconds = _number(env, name, default)
    if seconds <= 0:
        raise AgentConfigError(f"{name} must be greater than 0")
    return seconds


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _get(env, name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise AgentConfigError(f"{name} must be an integer") from None


def _url(env: Mapping[str, str], name: str) -> str | None:
    value = _get(env, name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentConfigError(f"{name} must be an http(s) URL")
    return value.rstrip("/")


def _public_base_url(env: Mapping[str, str]) -> str | None:
    name = "AGENT_PUBLIC_BASE_URL"
    template = _get(env, name)
    if template is None:
        return None
    try:
        sample = template.format(name="agent", port=8101)
    except (KeyError, IndexError, ValueError):
        raise AgentConfigError(f"{name} may only use the {{name}} and {{port}} fields") from None
    parts = urlsplit(sample)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentConfigError(f"{name} must be an http(s) URL")
    return template


def _inbound(env: Mapping[str, str]) -> InboundAuth:
    entra = {name: _get(env, name) for name in _ENTRA_SETTINGS}
    if any(entra.values()) and not all(entra.values()):
        raise AgentConfigError(f"{', '.join(_ENTRA_SETTINGS)} must be set together")
    jwks_url = entra["AGENT_ENTRA_JWKS_URL"]
    if jwks_url is not None and urlsplit(jwks_url).scheme != "https":
        raise AgentConfigError("AGENT_ENTRA_JWKS_URL must be an https URL")
    return InboundAuth(
        signing_key=_get(env, "AUTH_SIGNING_KEY"),
        # The devhost runs the agents on the app's settings file: its issuer is theirs.
        app_issuer=(
            _get(env, "AGENT_TOKEN_ISSUER")
            or _get(env, "AUTH_APP_ISSUER")
            or InboundAuth.app_issuer
        ),
        app_audience=_get(env, "AGENT_TOKEN_AUDIENCE") or InboundAuth.app_audience,
        entra_issuer=entra["AGENT_ENTRA_ISSUER"],
        entra_audience=entra["AGENT_ENTRA_AUDIENCE"],
        entra_jwks_url=jwks_url,
        entra_role=_get(env, "AGENT_ENTRA_ROLE"),
        api_key=_get(env, "AGENT_API_KEY"),
    )


def _faults(env: Mapping[str, str]) -> FaultConfig:
    config = FaultConfig(
        latency_ms=_int(env, "AGENT_FAULT_LATENCY_MS", 0),
        failure_rate=_number(env, "AGENT_FAULT_FAILURE_RATE", 0.0),
        failure_mode=(_get(env, "AGENT_FAULT_FAILURE_MODE") or "jsonrpc").lower(),
        malformed_rate=_number(env, "AGENT_FAULT_MALFORMED_RATE", 0.0),
        hang=_bool(env, "AGENT_FAULT_HANG", False),
        seed=_int(env, "AGENT_FAULT_SEED", 0),
    )
    try:
        config.validate()
    except FaultConfigError as exc:
        raise AgentConfigError(f"AGENT_FAULT_* setting invalid: {exc}") from None
    return config
