"""The Voice Live credential the browser gets: a shared Entra token, or (development) the key."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from voicea2a.config import VoiceSettings, get_settings
from voicea2a.errors import NotConfigured, UpstreamUnavailable
from voicea2a.identity import azure_credential
from voicea2a.secrets import get_secret
from voicea2a.singleflight import MISS, SingleFlight

logger = logging.getLogger(__name__)

VOICE_LIVE_SCOPE = "https://ai.azure.com/.default"
# The Key Vault secret (locally: VOICE_LIVE_API_KEY) used when VOICE_LIVE_AUTH_MODE is key.
API_KEY_NAME = "voice-live-api-key"
# A token is replaced this long before it expires, so a browser never gets one about to lapse.
REFRESH_MARGIN_SECONDS = 300.0
# When a refresh fails, a cached token with at least this much life left is still handed out:
# the browser uses it at once, to open its WebSocket.
_MIN_USABLE_SECONDS = 60.0


@dataclass(frozen=True)
class VoiceCredential:
    """What the browser passes to Voice Live: `bearer` token or `api-key`, and its expiry."""

    auth_type: str
    token: str = field(repr=False)
    expires_at: datetime | None


class _TokenCache:
    """One credential and its latest token, refreshed by at most one call at a time."""

    def __init__(self, credential: Any = None, clock: Callable[[], float] = time.time) -> None:
        self._credential = credential
        self._clock = clock  # epoch seconds, as AccessToken.expires_on
        self._lock = threading.Lock()
        self._token: Any = None
        self._flight: SingleFlight[Any] = SingleFlight()

    async def token(self, client_id: str | None) -> Any:
        """Return a token with more than REFRESH_MARGIN_SECONDS left, fetching one if needed."""
        return await self._flight.get(None, self._fresh, lambda: self._refresh(client_id))

    def clear(self) -> None:
        """Forget the cached token (the credential is kept)."""
        with self._lock:
            self._token = None

    def _fresh(self) -> object:
        with self._lock:
            token = self._token
        if token is not None and token.expires_on - REFRESH_MARGIN_SECONDS > self._clock():
            return token
        return MISS

    def _refresh(self, client_id: str | None) -> Any:
        from azure.core.exceptions import AzureError

        try:
            token = self._credential_for(client_id).get_token(VOICE_LIVE_SCOPE)
        except AzureError as exc:
            with self._lock:
                current = self._token
            if current is not None and current.expires_on - self._clock() >= _MIN_USABLE_SECONDS:
                logger.warning(
                    "Voice Live token refresh failed (%s); the cached token is still valid",
                    type(exc).__name__,
                )
                return current
            # The cause stays in the chain for diagnostics; the message never carries its text.
            raise UpstreamUnavailable("Voice Live credentials are unavailable.") from exc
        with self._lock:
            self._token = token
        return token

    def _credential_for(self, client_id: str | None) -> Any:
        with self._lock:
            if self._credential is not None:
                return self._credential
        if client_id is None and get_settings().auth.running_in_azure:
            # Without it the app's own identity would mint the browser's token.
            raise NotConfigured(
                "VOICE_TOKEN_IDENTITY_CLIENT_ID is required in Azure when VOICE_LIVE_AUTH_MODE "
                "is entra: the browser's token comes from that dedicated identity."
            )
        credential = azure_credential(client_id)
        with self._lock:
            if self._credential is None:
                self._credential = credential
            return self._credential


_cache = _TokenCache()


def set_voice_token_credential(
    credential: Any | None, clock: Callable[[], float] | None = None
) -> None:
    """Use `credential` (and `clock`, epoch seconds) for Voice Live tokens (tests); None: real."""
    global _cache
    _cache = _TokenCache(credential, clock or time.time)


def reset_voice_credential_cache() -> None:
    """Forget the cached Voice Live token, so the next request fetches a new one (tests)."""
    _cache.clear()


async def voice_credential(voice: VoiceSettings) -> VoiceCredential:
    """Return the credential a browser uses to open Voice Live, per `voice.auth_mode`."""
    if voice.endpoint is None:
        raise NotConfigured("Voice is not configured; use text mode.")
    if voice.auth_mode == "key":
        return VoiceCredential("api-key", await get_secret(API_KEY_NAME), None)
    token = await _cache.token(voice.token_identity_client_id)
    return VoiceCredential("bearer", token.token, datetime.fromtimestamp(token.expires_on, UTC))
