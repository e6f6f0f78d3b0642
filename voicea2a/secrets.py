"""The secret rule: Key Vault `kebab-name` if KEY_VAULT_URL is set, else env UPPER_SNAKE."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from voicea2a.config import get_settings
from voicea2a.errors import NotConfigured, UpstreamUnavailable
from voicea2a.identity import azure_credential
from voicea2a.singleflight import MISS, SingleFlight

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

# Key Vault is read on the request path, where a cached value (or a prompt 503) beats a long wait:
# one retry with a short backoff and tight socket timeouts; the cache rides out longer outages.
# A 429's Retry-After is still honoured by the SDK (Key Vault asks for it; caching makes it rare).
_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 1,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 2,
    "connection_timeout": 2,
    "read_timeout": 5,
}
# After a failed refresh the cached value is served without asking Key Vault again for this long,
# so an outage does not make every request wait for a doomed call.
_PAUSE_AFTER_FAILURE_SECONDS = 30.0


class SecretSource(Protocol):
    """Where secret values come from; `get` returns None when the secret does not exist."""

    async def get(self, name: str) -> str | None:
        """Return the value of secret `name` (kebab-case), or None when it is missing."""
        ...


class EnvSecretSource:
    """Secrets from environment variables: `auth-signing-key` is read from AUTH_SIGNING_KEY."""

    async def get(self, name: str) -> str | None:
        """Return the environment value for `name`, or None when unset or empty."""
        return os.environ.get(secret_env_name(name)) or None


@dataclass
class _Entry:
    value: str | None = field(repr=False)  # None: the secret does not exist (cached too)
    fetched_at: float
    refresh_at: float


class KeyVaultSecretSource:
    """Secrets from Azure Key Vault, cached per name, with one SecretClient and one credential.

    A value is re-read after `ttl_seconds`. Concurrent misses for a name share one Key Vault call.
    When Key Vault fails, the cached value is served until `ttl_seconds + grace_seconds` after it
    was read; then (or with nothing cached) the failure is UpstreamUnavailable.
    """

    def __init__(
        self,
        vault_url: str,
        *,
        ttl_seconds: float,
        grace_seconds: float,
        credential: Any = None,
        transport: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.vault_url = vault_url
        self._ttl = ttl_seconds
        self._grace = grace_seconds
        self._credential = credential
        self._transport = transport
        self._clock = clock
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._flights: SingleFlight[str | None] = SingleFlight()

    async def get(self, name: str) -> str | None:
        """Return Key Vault secret `name`, None when it does not exist; 503 when unreachable."""
        return await self._flights.get(name, lambda: self._fresh(name), lambda: self._refresh(name))

    def clear(self) -> None:
        """Forget every cached value (the client and credential are kept)."""
        with self._lock:
            self._entries.clear()

    def _fresh(self, name: str) -> object:
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and self._clock() < entry.refresh_at:
                return entry.value
        return MISS

    def _refresh(self, name: str) -> str | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            value = self._secret_client().get_secret(name).value or None
        except ResourceNotFoundError:
            value = None
        except AzureError as exc:
            return self._stale_or_raise(name, exc)
        now = self._clock()
        with self._lock:
            self._entries[name] = _Entry(value, fetched_at=now, refresh_at=now + self._ttl)
        return value

    def _stale_or_raise(self, name: str, exc: Exception) -> str | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(name)
            expires_at = entry.fetched_at + self._ttl + self._grace if entry else now
            if entry is None or now >= expires_at:
                self._entries.pop(name, None)
                # The cause stays in the chain for diagnostics; the message never carries its text.
                raise UpstreamUnavailable("Key Vault is unavailable.") from exc
            entry.refresh_at = min(now + _PAUSE_AFTER_FAILURE_SECONDS, expires_at)
            age = now - entry.fetched_at
        logger.warning(
            "Key Vault is unavailable (%s, status %s); serving secret %r cached %.0f s ago",
            type(exc).__name__,
            getattr(exc, "status_code", None),
            name,
            age,
        )
        return entry.value

    def _secret_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                from azure.keyvault.secrets import SecretClient

                if self._credential is None:
                    self._credential = azure_credential(get_settings().managed_identity_client_id)
                options = dict(_CLIENT_OPTIONS)
                if self._transport is not None:
                    options["transport"] = self._transport
                self._client = SecretClient(self.vault_url, self._credential, **options)
            return self._client


# The seam: the source used when KEY_VAULT_URL is set. Built on first use; tests inject another.
_key_vault_source: SecretSource | None = None
_key_vault_lock = threading.Lock()


def secret_env_name(name: str) -> str:
    """Convert a kebab-case secret name to its environment variable name (UPPER_SNAKE)."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"secret names are kebab-case (like 'auth-signing-key'), got {name!r}")
    return name.replace("-", "_").upper()


def set_key_vault_source(source: SecretSource | None) -> None:
    """Replace the Key Vault source, and so its cache (tests); None: the next use builds one."""
    global _key_vault_source
    with _key_vault_lock:
        _key_vault_source = source


def key_vault_source(vault_url: str) -> SecretSource:
    """Return the process-wide Key Vault source, creating it (but no client) on first use."""
    global _key_vault_source
    with _key_vault_lock:
        if _key_vault_source is None:
            cache = get_settings().secret_cache
            _key_vault_source = KeyVaultSecretSource(
                vault_url, ttl_seconds=cache.ttl_seconds, grace_seconds=cache.grace_seconds
            )
        return _key_vault_source


def reset_secret_cache() -> None:
    """Forget every cached secret value (tests); the Key Vault client is kept."""
    with _key_vault_lock:
        source = _key_vault_source
    if isinstance(source, KeyVaultSecretSource):
        source.clear()


async def get_optional_secret(name: str) -> str | None:
    """Return secret `name` (kebab-case), or None when it is not configured."""
    secret_env_name(name)
    vault_url = get_settings().key_vault_url
    if vault_url is None:
        return await EnvSecretSource().get(name)
    return await key_vault_source(vault_url).get(name)


async def get_secret(name: str) -> str:
    """Return secret `name` (kebab-case) or raise NotConfigured naming where it was expected."""
    value = await get_optional_secret(name)
    if value is None:
        if get_settings().key_vault_url is not None:
            raise NotConfigured(f"The Key Vault secret '{name}' is not configured.")
        raise NotConfigured(f"The setting {secret_env_name(name)} is not configured.")
    return value
