"""`PubSubService`: one aiohttp application serving the REST API and the client endpoint."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from devhost.pubsub.client import ClientEndpoint
from devhost.pubsub.connstr import ConnectionString, parse_connection_string
from devhost.pubsub.rest import RestApi
from devhost.pubsub.state import Registry

log = logging.getLogger("devhost.pubsub")

STOPPING = "The service is stopping."
DEFAULT_PORT = 8080


@web.middleware
async def _log_rest_calls(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One line per REST call: method, path and status, never the query or the headers."""
    if request.path.startswith("/client/"):
        return await handler(request)  # the client endpoint logs connects and disconnects
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        log.info("pubsub rest %s %s -> %d (%.1f ms)", request.method, request.path, status, elapsed)


async def _health(request: web.Request) -> web.StreamResponse:
    """GET/HEAD /api/health: 200, no authentication (the app's health check calls it)."""
    return web.Response(status=200)


class PubSubService:
    """A local Azure Web PubSub: REST data plane, client WebSocket endpoint, access-key JWTs."""

    def __init__(
        self,
        access_key: str,
        *,
        endpoint: str | None = None,
        max_queue: int = 1000,
        reconnect_window_seconds: float = 30,
        close_timeout_seconds: float = 5,
    ) -> None:
        if not access_key:
            raise ValueError("an access key is required")
        self.access_key = access_key
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.registry = Registry(max_queue, reconnect_window_seconds)
        self._close_timeout = close_timeout_seconds
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None

    @classmethod
    def from_connection_string(
        cls,
        value: str,
        *,
        max_queue: int = 1000,
        reconnect_window_seconds: float = 30,
        close_timeout_seconds: float = 5,
    ) -> PubSubService:
        """A service for `Endpoint=http://localhost:8080;AccessKey=...;Version=1.0;`."""
        parsed = parse_connection_string(value)
        return cls(
            parsed.access_key,
            endpoint=parsed.endpoint,
            max_queue=max_queue,
            reconnect_window_seconds=reconnect_window_seconds,
            close_timeout_seconds=close_timeout_seconds,
        )

    def build_app(self) -> web.Application:
        """The aiohttp application (REST under /api, clients under /client/hubs/{hub})."""
        app = web.Application(middlewares=[_log_rest_calls], client_max_size=1024 * 1024)
        client = ClientEndpoint(self.registry, self.access_key, self.endpoint, self._close_timeout)
        app.router.add_route("GET", "/client/hubs/{hub}", client.handle)
        app.router.add_route("GET", "/api/health", _health)
        app.router.add_route("HEAD", "/api/health", _health)
        app.add_routes(RestApi(self.registry, self.access_key).routes())
        return app

    async def start(self, host: str = "127.0.0.1", port: int | None = None) -> int:
        """Serve on host:port and return the bound port. 0 picks a free port; None takes the
        endpoint's port (8080 when there is no endpoint, as for the official emulator)."""
        if self._runner is not None:
            raise RuntimeError("the service is already started")
        if port is None:
            port = urlsplit(self.endpoint).port if self.endpoint else None
            port = port or DEFAULT_PORT
        # access_log=None: aiohttp's access log would print query strings (client tokens).
        runner = web.AppRunner(
            self.build_app(), access_log=None, shutdown_timeout=self._close_timeout + 1
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._host = runner, host
        self._port = runner.addresses[0][1]
        log.info("pubsub listening on http://%s:%d", host, self._port)
        return self._port

    async def stop(self) -> None:
        """Close every connection (code 1001) and stop serving."""
        if self._runner is None:
            return
        self.registry.close_all(STOPPING)
        runner, self._runner = self._runner, None
        await runner.cleanup()
        self._port = None

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._port is None:
            raise RuntimeError("the service is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://<host>:<port>` of the running service."""
        return f"http://{self._host}:{self.port}"

    @property
    def connection_string(self) -> str:
        """A connection string for the running service, in the official emulator's form."""
        return ConnectionString(self.base_url, self.access_key).render()
