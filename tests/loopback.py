"""An aiohttp app served on loopback for a test: the stand-in agents, identity endpoints and
services the tests talk to over real HTTP."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class LoopbackServer:
    """Serves `app` on 127.0.0.1 on a free port. `await start()` returns the base URL and
    `await stop()` cleans up (or `async with LoopbackServer(app) as url:`); both run on the
    event loop the app's handlers should run on."""

    def __init__(self, app: web.Application, **runner_options: Any) -> None:
        # No access log: a test's requests would flood the captured log lines.
        self._runner = web.AppRunner(app, access_log=None, **runner_options)
        self.url = ""

    async def start(self) -> str:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> str:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
