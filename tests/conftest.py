"""Shared fixtures: settings isolation, a session-wide Azurite, and cached-client cleanup."""

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devhost.azurite import AzuriteProcess, start_azurite
from voicea2a import config, httpclient, secrets, storage

ROOT = Path(__file__).resolve().parent.parent

# Env vars read outside Settings (secrets, identity) that a test machine might have set.
_OTHER_APP_ENV = ("AUTH_SIGNING_KEY", "AZURE_CLIENT_ID")


def free_port() -> int:
    """Return a TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def isolated_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clear every app setting from the environment and reset the cached settings and seams."""
    for name in (*config.SETTING_NAMES, *_OTHER_APP_ENV):
        monkeypatch.delenv(name, raising=False)
    config.reset_settings()
    secrets.set_key_vault_source(None)
    yield
    config.reset_settings()
    secrets.set_key_vault_source(None)


@pytest.fixture
def app_env(
    isolated_settings: None, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., config.Settings]:
    """Set env vars over a minimal valid base (Azurite shortcut) and return fresh Settings."""

    def apply(**values: str) -> config.Settings:
        monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        config.reset_settings()
        return config.get_settings()

    return apply


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteProcess]:
    """One in-memory Azurite for the whole test session, on free ports."""
    process = start_azurite(
        blob_port=free_port(),
        queue_port=free_port(),
        table_port=free_port(),
        location=None,
        in_memory=True,
        script_root=ROOT,
    )
    yield process
    process.stop()


@pytest.fixture
async def cached_clients_closed() -> None:
    """Close the per-loop Table and HTTP clients after the test (they bind to its loop)."""
    yield
    await storage.close_all()
    await httpclient.close_http_clients()


@pytest.fixture
def azurite_env(
    azurite: AzuriteProcess,
    app_env: Callable[..., config.Settings],
    cached_clients_closed: None,
) -> Callable[..., config.Settings]:
    """Like app_env, with AzureWebJobsStorage pointing at the session Azurite."""

    def apply(**values: str) -> config.Settings:
        return app_env(**{"AzureWebJobsStorage": azurite.connection_string, **values})

    return apply
