"""A small fake Function App on loopback: the dev-token and agent registration routes."""

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from aiohttp import web

from tests.loopback import LoopbackServer


@dataclass
class FakeFunctionApp:
    """Answers each route from a script of statuses (then success) and records every call."""

    register_statuses: list[int] = field(default_factory=list)
    token_statuses: list[int] = field(default_factory=list)
    token_lifetime: dt.timedelta = dt.timedelta(hours=1)
    token_requests: list[dict] = field(default_factory=list)
    register_calls: list[tuple[str | None, dict, int]] = field(default_factory=list)
    url: str = ""
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/auth/dev-token", self._dev_token)
        app.router.add_post("/api/agents", self._register)
        self._server = LoopbackServer(app)
        self.url = await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def _dev_token(self, request: web.Request) -> web.Response:
        self.token_requests.append(await request.json())
        if self.token_statuses:
            return web.json_response({"error": "scripted"}, status=self.token_statuses.pop(0))
        expires = dt.datetime.now(dt.UTC) + self.token_lifetime
        token = f"tok-{len(self.token_requests)}"
        return web.json_response({"token": token, "expiresAt": expires.isoformat()})

    async def _register(self, request: web.Request) -> web.Response:
        status = self.register_statuses.pop(0) if self.register_statuses else 200
        self.register_calls.append(
            (request.headers.get("Authorization"), await request.json(), status)
        )
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({}, status=status)

    def accepted(self) -> list[tuple[str | None, dict, int]]:
        return [call for call in self.register_calls if call[2] == 200]

    async def wait_for(self, predicate, timeout: float = 15) -> None:
        """Wait until predicate() holds (the timeout only guards against a hung test)."""

        async def waiting():
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(waiting(), timeout)
