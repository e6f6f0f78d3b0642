"""The one shared httpx.AsyncClient per process (one per event loop)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicea2a.loopcache import PerLoop

if TYPE_CHECKING:
    import httpx

CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 15.0


def _create() -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        timeout=httpx.Timeout(DEFAULT_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        follow_redirects=False,
        headers={"User-Agent": "voice-a2a-functions"},
    )


async def _close(client: httpx.AsyncClient) -> None:
    await client.aclose()


_clients: PerLoop[httpx.AsyncClient] = PerLoop(_create, _close)


def http_client() -> httpx.AsyncClient:
    """Return the shared AsyncClient of the running loop (pass `timeout=` per call to tighten)."""
    return _clients.get()


async def close_http_clients() -> None:
    """Close the running loop's client and forget all cached clients (tests, shutdown)."""
    await _clients.close_all()
