"""Read the settings Core Tools reads: local.settings.json (Values, Host) and host.json."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

SETTINGS_FILE = "local.settings.json"
EXAMPLE_FILE = "local.settings.example.json"


class SettingsError(Exception):
    """A settings file is missing or malformed."""


@dataclass(frozen=True)
class HostSettings:
    """What the host itself needs: where routes live, CORS and the task hub."""

    settings_file: Path | None
    route_prefix: str = "api"
    task_hub: str = "TestHubName"
    cors_origins: tuple[str, ...] = ()
    cors_credentials: bool = False
    port: int | None = None
    values_loaded: tuple[str, ...] = field(default=())


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{path} could not be read as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a JSON object")
    return data


def _expand(value: str, environ: MutableMapping[str, str]) -> str:
    """Resolve `%NAME%` app-setting references, as the host does in host.json."""
    return re.sub(r"%([^%]+)%", lambda m: environ.get(m.group(1), m.group(0)), value)


def load_settings(
    script_root: Path, environ: MutableMapping[str, str] = os.environ
) -> HostSettings:
    """Copy Values into the environment (variables already set win, as with Core Tools)."""
    settings_file = next(
        (p for p in (script_root / SETTINGS_FILE, script_root / EXAMPLE_FILE) if p.is_file()), None
    )
    local = _read_json(settings_file) if settings_file else {}
    values = local.get("Values") or {}
    if not isinstance(values, dict):
        raise SettingsError(f"{settings_file}: 'Values' must be an object of strings")
    loaded = []
    for name, value in values.items():
        if name not in environ:
            environ[name] = "" if value is None else str(value)
            loaded.append(name)
    host_section = local.get("Host") or {}
    origins = tuple(o.strip() for o in str(host_section.get("CORS", "")).split(",") if o.strip())

    host_json = (
        _read_json(script_root / "host.json") if (script_root / "host.json").is_file() else {}
    )
    extensions = host_json.get("extensions") or {}
    route_prefix = (extensions.get("http") or {}).get("routePrefix", "api").strip("/")
    hub = _expand(str((extensions.get("durableTask") or {}).get("hubName", "TestHubName")), environ)
    port = host_section.get("LocalHttpPort")
    return HostSettings(
        settings_file=settings_file,
        route_prefix=route_prefix,
        task_hub=hub,
        cors_origins=origins,
        cors_credentials=bool(host_section.get("CORSCredentials", False)),
        port=int(port) if port else None,
        values_loaded=tuple(loaded),
    )


WORKER_PROCESS_COUNT_SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
# Azure's default and maximum (the app settings reference, FUNCTIONS_WORKER_PROCESS_COUNT).
WORKER_PROCESS_COUNT_DEFAULT = 1
WORKER_PROCESS_COUNT_MAX = 10


def worker_process_count(environ: Mapping[str, str]) -> int:
    """How many worker processes run the app: FUNCTIONS_WORKER_PROCESS_COUNT, 1 to 10."""
    text = environ.get(WORKER_PROCESS_COUNT_SETTING, "").strip()
    if not text:
        return WORKER_PROCESS_COUNT_DEFAULT
    if not text.isdigit() or not 1 <= int(text) <= WORKER_PROCESS_COUNT_MAX:
        raise SettingsError(
            f"{WORKER_PROCESS_COUNT_SETTING} must be a whole number from 1 to "
            f"{WORKER_PROCESS_COUNT_MAX} (Azure's range), not {text!r}"
        )
    return int(text)
