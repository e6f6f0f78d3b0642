"""Self-registration heartbeat: each agent posts its URL to the Function App, again and again.

`POST {FUNCTION_APP_URL}/api/agents {"url": <agent base url>}` with `Authorization: Bearer`,
on start and every heartbeat. A failed attempt is retried with capped exponential backoff and
jitter; it is logged once per failure streak and never stops the agent. A 401 drops the cached
token so the next attempt fetches a fresh one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx
    from azure.core.credentials_async import AsyncTokenCredential

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 10.0
# A token is reused until this long before it expires.
TOKEN_REFRESH_MARGIN = dt.timedelta(minutes=1)


def agent_identity(agent_name: str) -> str:
    """The identity a sample agent signs in as (what AGENT_ADMISSION_ALLOWLIST lists)."""
    return f"agent-{agent_name}"


class RegistrationError(Exception):
    """One registration attempt failed; the message says why (never a token)."""


class TokenSource(Protocol):
    """Where an agent's bearer token comes from."""

    async def token(self) -> str:
        """A valid bearer token (cached while it is fresh)."""
        ...

    def invalidate(self) -> None:
        """Forget the cached token (the app refused it)."""
        ...

    async def close(self) -> None:
        """Release the source's resources."""
        ...


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DevTokenSource:
    """Tokens from the app's dev sign-in: `POST /api/auth/dev-token` as user `agent-<name>`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        function_app_url: str,
        agent_name: str,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._client = client
        self._url = f"{function_app_url}/api/auth/dev-token"
        self._body = {"user": agent_identity(agent_name), "roles": ["agent"]}
        self._clock = clock
        self._token: str | None = None
        self._expires_at = dt.datetime.min.replace(tzinfo=dt.UTC)

    async def token(self) -> str:
        """The cached token, or a new one when it is within a minute of expiry."""
        if self._token is None or self._clock() >= self._expires_at - TOKEN_REFRESH_MARGIN:
            self._token, self._expires_at = await self._fetch()
        return self._token

    async def _fetch(self) -> tuple[str, dt.datetime]:
        import httpx

        try:
            response = await self._client.post(
                self._url, json=self._body, timeout=REQUEST_TIMEOUT_SECONDS
            )
        except httpx.HTTPError as exc:
            raise RegistrationError(f"dev-token request failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise RegistrationError(f"dev-token request returned HTTP {response.status_code}")
        try:
            body = response.json()
            token, expires_at = body["token"], dt.datetime.fromisoformat(body["expiresAt"])
        except (ValueError, KeyError, TypeError):
            raise RegistrationError("dev-token response is not {token, expiresAt}") from None
        if not isinstance(token, str) or not token:
            raise RegistrationError("dev-token response has no token")
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=dt.UTC)
        return token, expires_at

    def invalidate(self) -> None:
        """Forget the cached token."""
        self._token = None

    async def close(self) -> None:
        """Nothing to release (the HTTP client belongs to the caller)."""


class EntraTokenSource:
    """Tokens from `DefaultAzureCredential` for the configured scope (managed identity in Azure)."""

    def __init__(
        self,
        scope: str,
        credential: AsyncTokenCredential | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._scope = scope
        self._clock = clock
        self._credential = credential
        self._owns_credential = credential is None
        self._token: str | None = None
        self._expires_on = 0.0

    async def token(self) -> str:
        """The cached token, or a new one when it is within a minute of expiry."""
        margin = TOKEN_REFRESH_MARGIN.total_seconds()
        if self._token is None or self._clock() >= self._expires_on - margin:
            if self._credential is None:
                from azure.identity.aio import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
            try:
                access = await self._credential.get_token(self._scope)
            except Exception as exc:
                # The credential chain's messages can be long; the type is enough to act on.
                raise RegistrationError(
                    f"Entra token request failed: {type(exc).__name__}"
                ) from None
            self._token, self._expires_on = access.token, float(access.expires_on)
        return self._token

    def invalidate(self) -> None:
        """Forget the cached token."""
        self._token = None

    async def close(self) -> None:
        """Close the credential if this source created it."""
        if self._credential is not None and self._owns_credential:
            await self._credential.close()
            self._credential = None


class Registrar:
    """Registers one agent on a heartbeat, retrying failures with backoff."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        function_app_url: str,
        agent_name: str,
        agent_url: str,
        tokens: TokenSource,
        heartbeat_seconds: float,
        retry_initial_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        self._client = client
        self._register_url = f"{function_app_url}/api/agents"
        self.agent_name = agent_name
        self.agent_url = agent_url
        self._tokens = tokens
        self._heartbeat = heartbeat_seconds
        self._retry_initial = retry_initial_seconds
        self._retry_max = retry_max_seconds
        # Jitter only spreads agents' retries apart; it needs no reproducibility or secrecy.
        self._rng = random.Random()  # noqa: S311

    async def run(self) -> None:
        """Register now and on every heartbeat until cancelled."""
        while True:
            await self._register_with_retries()
            await asyncio.sleep(self._heartbeat)

    async def _register_with_retries(self) -> None:
        failures = 0
        while True:
            try:
                await self.register_once()
            except RegistrationError as exc:
                if failures == 0:
                    log.warning(
                        "%s: registration with %s failed (%s); retrying with backoff",
                        self.agent_name,
                        self._register_url,
                        exc,
                    )
                else:
                    log.debug(
                        "%s: registration attempt %d failed: %s", self.agent_name, failures + 1, exc
                    )
                failures += 1
                await asyncio.sleep(self.backoff_seconds(failures))
                continue
            if failures:
                log.info("%s: registered after %d failed attempt(s)", self.agent_name, failures)
            return

    def backoff_seconds(self, failures: int) -> float:
        """Delay after the n-th consecutive failure: doubling, capped, between half and full."""
        ceiling = min(self._retry_max, self._retry_initial * 2 ** (failures - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def register_once(self) -> None:
        """One attempt; raises RegistrationError on any failure."""
        import httpx

        token = await self._tokens.token()
        try:
            response = await self._client.post(
                self._register_url,
                json={"url": self.agent_url},
                headers={"Authorization": f"Bearer {token}"},
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            raise RegistrationError(f"request failed: {type(exc).__name__}") from None
        if response.status_code == 401:
            self._tokens.invalidate()
        if not 200 <= response.status_code < 300:
            raise RegistrationError(f"HTTP {response.status_code}")
        log.debug("%s: registered %s", self.agent_name, self.agent_url)
