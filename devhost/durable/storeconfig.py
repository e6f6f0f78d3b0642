"""The `DEVHOST_DURABLE_STORE` setting: where the Durable engine keeps its instances.

- `azurite` (default): in Table storage, in the account the app's `AzureWebJobsStorage`
  connection string names, as the Durable extension's Azure Storage provider does; a devhost
  that crashes or is stopped resumes its orchestrations when it starts again;
- `memory`: only in the process (lost when it stops).

An unknown value stops the host: a typo must not pass for the store one meant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from devhost.durable.store import DurableStore, MemoryStore, TableStore
from devhost.settings import SettingsError

DURABLE_STORE_SETTING = "DEVHOST_DURABLE_STORE"
AZURITE = "azurite"
MEMORY = "memory"
MODES = (AZURITE, MEMORY)
STORAGE_SETTING = "AzureWebJobsStorage"
# Not DTFx's `{hub}Instances`/`{hub}History`: `func start` on the same Azurite and task hub
# must never read rows in a layout it does not know.
TABLE_SUFFIX = "DevhostInstances"
# Durable's rule for task hub names (Azure Storage provider): 3-45 letters and digits.
_TASK_HUB = re.compile(r"[A-Za-z][A-Za-z0-9]{2,44}")


def store_mode(environ: Mapping[str, str]) -> str:
    """The store the setting names (default `azurite`)."""
    value = environ.get(DURABLE_STORE_SETTING, "").strip().lower() or AZURITE
    if value not in MODES:
        raise SettingsError(
            f"{DURABLE_STORE_SETTING}: unknown store {value!r}; use {' or '.join(MODES)}"
        )
    return value


def table_name(task_hub: str) -> str:
    """The table holding the task hub's instances."""
    if not _TASK_HUB.fullmatch(task_hub):
        raise SettingsError(
            f"task hub name {task_hub!r} (host.json extensions.durableTask.hubName) must be 3-45 "
            "letters or digits, starting with a letter"
        )
    return f"{task_hub}{TABLE_SUFFIX}"


def storage_connection_string(environ: Mapping[str, str]) -> str:
    """The `AzureWebJobsStorage` connection string (the Azurite shortcut in the one spelling
    the Tables SDK knows)."""
    value = environ.get(STORAGE_SETTING, "").strip()
    if not value:
        identity = any(environ.get(f"{STORAGE_SETTING}__{p}") for p in ("tableServiceUri",))
        hint = (
            " (identity-based connections are not supported by the devhost's store)"
            if identity
            else ""
        )
        raise SettingsError(
            f"{STORAGE_SETTING} is not set{hint}: the Durable store needs a storage connection "
            f"string (UseDevelopmentStorage=true for Azurite), or set "
            f"{DURABLE_STORE_SETTING}=memory to keep orchestrations in memory only"
        )
    from azure.core.utils import parse_connection_string

    try:
        lowered = parse_connection_string(value, case_sensitive_keys=False)
    except ValueError:  # a malformed one: the message below says what it must be
        lowered = {}
    if lowered.get("usedevelopmentstorage", "").lower() == "true":
        return "UseDevelopmentStorage=true"
    if "accountname" not in lowered and "tableendpoint" not in lowered:
        # Never echo it: a connection string carries the account key.
        raise SettingsError(
            f"{STORAGE_SETTING} must be a storage connection string with AccountName or "
            "TableEndpoint, or UseDevelopmentStorage=true"
        )
    return value


def build_store(environ: Mapping[str, str], task_hub: str) -> DurableStore:
    """The store the settings ask for (not opened yet)."""
    if store_mode(environ) == MEMORY:
        return MemoryStore()
    return TableStore(storage_connection_string(environ), table_name(task_hub))
