"""The devhost: one aiohttp server for the app's HTTP functions, Durable engine and timers."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from devhost.cpu import CpuLedger, attribute_spawned_tasks, stop_attributing_spawned_tasks
from devhost.durable.api import RPC_PREFIX, WEBHOOK_PREFIX, DurableApi, client_binding
from devhost.durable.engine import DurableEngine
from devhost.durable.faults import activity_faults
from devhost.durable.store import MemoryStore
from devhost.durable.storeconfig import build_store, store_mode
from devhost.functions import FunctionIndex, FunctionRunner, Invoker, index_app, load_app
from devhost.keys import HostKey
from devhost.occupancy import Occupancy
from devhost.server import CorsPolicy, FunctionsHandler, access_log, admin_handler, static_handler
from devhost.settings import HostSettings, load_settings, worker_process_count
from devhost.timers import TimerRunner
from devhost.workerpool import WorkerPool

log = logging.getLogger("devhost")

# The Functions host refuses request bodies over 100 MB; the app enforces its own, smaller limit.
HOST_MAX_BODY_BYTES = 100 * 1024 * 1024
HOST_MAX_HEADER_BYTES = 32 * 1024
RPC_BIND = "127.0.0.1"
T = TypeVar("T")


class DevHost:
    """Runs the Function App in `script_root` on `bind:port` until stopped."""

    def __init__(
        self,
        script_root: Path,
        *,
        port: int = 7071,
        bind: str = "127.0.0.1",
        web_root: Path | None = None,
        run_timers: bool = True,
        environ: MutableMapping[str, str] = os.environ,
        event_double_encoding: bool = True,
    ) -> None:
        self.script_root = script_root.resolve()
        self.requested_port = port
        self.bind = bind
        self.web_root = web_root
        self.run_timers = run_timers
        self.environ = environ
        self.event_double_encoding = event_double_encoding
        self.port: int | None = None
        self.rpc_port: int | None = None
        self._settings: HostSettings | None = None
        self._index: FunctionIndex | None = None
        self._engine: DurableEngine | None = None
        self._host_key: HostKey | None = None
        self._invoker: FunctionRunner | None = None
        self._runner: web.AppRunner | None = None
        self._rpc_runner: web.AppRunner | None = None
        self._timers: TimerRunner | None = None
        self._metered_loop: asyncio.AbstractEventLoop | None = None

    @property
    def settings(self) -> HostSettings:
        """The host settings (local.settings.json and the environment), once started."""
        return _started(self._settings)

    @property
    def index(self) -> FunctionIndex:
        """The app's functions, once started."""
        return _started(self._index)

    @property
    def engine(self) -> DurableEngine:
        """The Durable engine, once started."""
        return _started(self._engine)

    @property
    def host_key(self) -> HostKey:
        """The key /admin and /runtime/webhooks want, once started."""
        return _started(self._host_key)

    @property
    def invoker(self) -> FunctionRunner:
        """What runs the app's functions, once started."""
        return _started(self._invoker)

    @property
    def cpu(self) -> CpuLedger:
        """The app's functions' thread CPU by kind and function, and the engine's episodes."""
        return self.invoker.ledger

    @property
    def occupancy(self) -> Occupancy:
        """The wall time the app's functions kept instances executing, by scale group."""
        return self.invoker.occupancy

    @property
    def base_url(self) -> str:
        """Where the host listens, e.g. http://127.0.0.1:7071."""
        return f"http://{self.bind}:{self.port}"

    def client_binding(self) -> str:
        """The `durableClient` binding JSON handed to functions."""
        return client_binding(
            self.base_url,
            f"http://{RPC_BIND}:{self.rpc_port}",
            self.settings.task_hub,
            self.host_key.value,
        )

    async def start(self) -> None:
        """Load settings, import and index the app (raises AppLoadError or SettingsError), then
        start serving."""
        settings = self._settings = load_settings(self.script_root, self.environ)
        self._host_key = HostKey.from_environ(self.environ)
        faults = activity_faults(self.environ)
        store_mode(self.environ)  # a typo stops the host even for an app without Durable
        processes = worker_process_count(self.environ)
        # The host reads the app's functions (routes, schedules, Durable names) here; with
        # worker processes, each of them imports and indexes the app again and runs it.
        index = self._index = index_app(load_app(self.script_root), settings.route_prefix)
        self._invoker = await self._start_functions(processes, settings.route_prefix)
        try:
            await self._serve(settings, index, faults)
        except BaseException:  # worker processes and listeners started so far must not linger
            await self.stop()
            raise

    async def _serve(
        self, settings: HostSettings, index: FunctionIndex, faults: frozenset[str]
    ) -> None:
        """Start the engine, the timers and the listeners for an indexed app."""
        # Tasks the app's async functions create are theirs: charge them (devhost/cpu.py).
        self._metered_loop = asyncio.get_running_loop()
        attribute_spawned_tasks(self._metered_loop)
        # As in Azure, the Durable extension (and its storage) only matters to an app that
        # has orchestrations.
        store = (
            build_store(self.environ, settings.task_hub) if index.orchestrators else MemoryStore()
        )
        self._engine = DurableEngine(
            index,
            self.invoker,
            event_double_encoding=self.event_double_encoding,
            activity_faults=faults,
            store=store,
        )
        await self.engine.load()
        if self.run_timers:
            self._timers = TimerRunner(
                self.index.timers, self.invoker, self.client_binding, self.environ
            )

        durable_api = DurableApi(self.engine, self.client_binding)
        await self._start_rpc_listener(durable_api)
        app = web.Application(
            middlewares=[access_log, self.host_key.middleware()],
            client_max_size=HOST_MAX_BODY_BYTES,
        )
        durable_api.add_routes(app, WEBHOOK_PREFIX)
        app.router.add_post(
            "/admin/functions/{name}", admin_handler(self.index, self.invoker, self.client_binding)
        )
        functions = FunctionsHandler(
            self.index,
            self.invoker,
            CorsPolicy(self.settings.cors_origins, self.settings.cors_credentials),
            self.client_binding,
        )
        prefix = functions.prefix
        app.router.add_route("*", prefix or "/", functions.handle)
        app.router.add_route("*", prefix + "/{tail:.*}", functions.handle)
        if self.web_root and self.web_root.is_dir():
            app.router.add_get("/{path:.*}", static_handler(self.web_root))

        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            # Kestrel, in front of Azure Functions, accepts 32 KB of headers: an oversized token
            # must reach the app (and be refused there), not be cut off here.
            max_field_size=HOST_MAX_HEADER_BYTES,
            max_line_size=HOST_MAX_HEADER_BYTES,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind, self.requested_port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the real port when 0 was asked for
        if self._timers:
            self._timers.start()

    async def _start_functions(self, processes: int, route_prefix: str) -> FunctionRunner:
        """One process: the app runs in this one, as before. More: that many worker processes
        (docs/devhost.md, "Worker processes")."""
        if processes == 1:
            return Invoker(self.script_root)
        pool = WorkerPool(self.script_root, processes, dict(self.environ), route_prefix)
        await asyncio.to_thread(pool.start)
        log.info("%d worker processes: %s", processes, ", ".join(map(str, pool.pids)))
        return pool

    async def _start_rpc_listener(self, durable_api: DurableApi) -> None:
        """The extension's local RPC endpoint (`rpcBaseUrl`), which the SDK's client calls: on
        loopback only and without a key, as in Azure (LocalHttpListener on 127.0.0.1, 17071 or a
        random port); a free port here, so several hosts can run side by side."""
        app = web.Application(middlewares=[access_log], client_max_size=HOST_MAX_BODY_BYTES)
        durable_api.add_routes(app, RPC_PREFIX)
        self._rpc_runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._rpc_runner.setup()
        site = web.TCPSite(self._rpc_runner, RPC_BIND, 0)
        await site.start()
        self.rpc_port = self._rpc_runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop timers, orchestrations and the server."""
        if self._timers:
            await self._timers.stop()
        if self._engine:
            await self._engine.close()
        if self._runner:
            await self._runner.cleanup()
        if self._rpc_runner:
            await self._rpc_runner.cleanup()
        if self._invoker:
            await asyncio.to_thread(self._invoker.close)
        if self._metered_loop:
            stop_attributing_spawned_tasks(self._metered_loop)
            self._metered_loop = None


def _started(value: T | None) -> T:
    if value is None:
        raise RuntimeError("the devhost is not started")
    return value
