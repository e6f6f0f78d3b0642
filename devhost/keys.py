"""The host key: what Azure's Functions host asks of callers of its admin and extension APIs.

In Azure, `/admin/...` needs the master key and `/runtime/webhooks/durabletask/...` the
`durabletask_extension` system key (or the master key), sent as the `x-functions-key` header or
the `code` query parameter (the header wins when both are sent). A missing or wrong key is
answered `401` with an empty body. The devhost has one key playing both parts: random per run,
or the `DEVHOST_HOST_KEY` setting when a run must be reproducible. (Core Tools opens every
endpoint unless started with `--enableAuth`; the devhost always behaves as Azure does.)
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.typedefs import Middleware

from devhost.settings import SettingsError

HOST_KEY_SETTING = "DEVHOST_HOST_KEY"
KEY_HEADER = "x-functions-key"
KEY_QUERY = "code"
# The key travels unencoded in `code=` of the URLs handed to functions: URL-safe characters only.
KEY_RE = re.compile(r"[A-Za-z0-9_\-=]{16,}")
PROTECTED_PREFIXES = ("/admin/", "/runtime/webhooks/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HostKey:
    """The key, and the check the host makes on its protected routes."""

    def __init__(self, value: str, *, from_setting: bool) -> None:
        self.value = value
        self.from_setting = from_setting

    def __repr__(self) -> str:  # never the value: a repr can end up in a log line
        return f"HostKey(from_setting={self.from_setting})"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HostKey:
        """The `DEVHOST_HOST_KEY` setting when set (refused if unsafe), else a random key."""
        configured = environ.get(HOST_KEY_SETTING, "")
        if not configured:
            return cls(secrets.token_urlsafe(32), from_setting=False)
        if not KEY_RE.fullmatch(configured):
            raise SettingsError(
                f"{HOST_KEY_SETTING} must be at least 16 letters, digits, '-', '_' or '='"
            )
        return cls(configured, from_setting=True)

    def presented_by(self, request: web.Request) -> bool:
        """True when the request carries this key (header first, then `code=`)."""
        presented = request.headers.get(KEY_HEADER)
        if presented is None:
            presented = request.query.get(KEY_QUERY, "")
        return hmac.compare_digest(presented.encode(), self.value.encode())

    def middleware(self) -> Middleware:
        """Refuse protected routes without the key, before any handler (or 404) runs."""

        @web.middleware
        async def require_key(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith(PROTECTED_PREFIXES) and not self.presented_by(request):
                # What Azure answers (Azure/azure-functions-powershell-worker#745 shows one).
                return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
            return await handler(request)

        return require_key
