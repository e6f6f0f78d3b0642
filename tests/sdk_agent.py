"""An agent served directly by a2a-sdk on a free loopback port, for tests that need a peer the
project did not write (`async with`, or `start`/`stop`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import uvicorn
from a2a.server.agent_execution import AgentExecutor
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.types import AgentCard
from starlette.applications import Starlette

from tests.waiting import wait_until_async

RPC_PATH = "/a2a"


class SdkAgent:
    """`executor` behind a2a-sdk's JSON-RPC routes; `card(rpc_url)` makes its card. With
    `v0_3`, the routes also speak A2A 0.3; `handler` replaces the SDK's request handler (a
    subclass that refuses a method, say)."""

    def __init__(
        self,
        executor: AgentExecutor,
        card: Callable[[str], AgentCard],
        *,
        v0_3: bool = False,
        handler: type[DefaultRequestHandler] = DefaultRequestHandler,
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        agent_card = card(self.url + RPC_PATH)
        request_handler = self.request_handler = handler(
            agent_executor=executor, task_store=InMemoryTaskStore(), agent_card=agent_card
        )
        app = Starlette(
            routes=create_agent_card_routes(agent_card)
            + create_jsonrpc_routes(request_handler, rpc_url=RPC_PATH, enable_v0_3_compat=v0_3)
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Serve until `stop`; the agent's base URL."""
        self._task = asyncio.create_task(self.server.serve())
        await wait_until_async(lambda: self.server.started, what="the a2a-sdk agent to start")
        return self.url

    async def stop(self) -> None:
        """Stop serving, then drain the SDK's tasks (one waiting for input would otherwise stay
        pending on the shared test loop until the garbage collector destroys it)."""
        self.server.should_exit = True
        if self._task is not None:
            await self._task
        await self.request_handler.aclose()

    async def __aenter__(self) -> SdkAgent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
