"""The secret rule: Key Vault `kebab-name` if KEY_VAULT_URL is set, else env UPPER_SNAKE."""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Protocol

from voicea2a.config import get_settings
from voicea2a.errors import NotConfigured, UpstreamUnavailable

_NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class SecretSource(Protocol):
    """Where secret values come from; `get` returns None when the secret does not exist."""

    def get(self, name: str) -> str | None:
        """Return the value of secret `name` (kebab-case), or None when it is missing."""
        ...


class EnvSecretSource:
    """Secrets from environment variables: `auth-signing-key` is read from AUTH_SIGNING_KEY."""

    def get(self, name: str) -> str | None:
        """Return the environment value for `name`, or None when unset or empty."""
        return os.environ.get(secret_env_name(name)) or None


class KeyVaultSecretSource:
    """Secrets from Azure Key Vault; one SecretClient and credential, created on first use."""

    def __init__(self, vault_url: str, client_id: str | None = None) -> None:
        self.vault_url = vault_url
        self._client_id = client_id
        self._client: Any = None
        self._lock = threading.Lock()

    def _secret_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from azure.identity import DefaultAzureCredential
                from azure.keyvault.secrets import SecretClient

                credential = DefaultAzureCredential(managed_identity_client_id=self._client_id)
                self._client = SecretClient(vault_url=self.vault_url, credential=credential)
            return self._client

    def get(self, name: str) -> str | None:
        """Return Key Vault secret `name`, None when it does not exist; raise when unreachable."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return self._secret_client().get_secret(name).value or None
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            # The cause stays in the chain for logs; the message never carries its text.
            raise UpstreamUnavailable("Key Vault is unavailable.") from exc


# The seam: the source used when KEY_VAULT_URL is set. Built on first use; tests inject a fake.
_key_vault_source: SecretSource | None = None
_key_vault_lock = threading.Lock()


def secret_env_name(name: str) -> str:
    """Convert a kebab-case secret name to its environment variable name (UPPER_SNAKE)."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"secret names are kebab-case (like 'auth-signing-key'), got {name!r}")
    return name.replace("-", "_").upper()


def set_key_vault_source(source: SecretSource | None) -> None:
    """Replace the Key Vault source (tests); None makes the next use build the real one."""
    global _key_vault_source
    with _key_vault_lock:
        _key_vault_source = source


def key_vault_source(vault_url: str) -> SecretSource:
    """Return the process-wide Key Vault source, creating it on first use."""
    global _key_vault_source
    with _key_vault_lock:
        if _key_vault_source is None:
            _key_vault_source = KeyVaultSecretSource(
                vault_url, client_id=os.environ.get("AZURE_CLIENT_ID") or None
            )
        return _key_vault_source


def get_secret(name: str) -> str:
    """Return secret `name` (kebab-case) or raise NotConfigured naming where it was expected."""
    env_name = secret_env_name(name)
    vault_url = get_settings().key_vault_url
    if vault_url is not None:
        value = key_vault_source(vault_url).get(name)
        where = f"Key Vault secret '{name}'"
    else:
        value = EnvSecretSource().get(name)
        where = f"setting {env_name}"
    if value is None:
        raise NotConfigured(f"The {where} is not configured.")
    return value
