"""A stand-in in front of one real sample agent, for the faults the agents' own knobs do not
have: a reply of several megabytes, and a card that changes between two fetches.

It serves the real agent's card with its own address in place of the agent's, and forwards
JSON-RPC to the real agent unless told to answer with a huge body. Registered under the real
agent's card name, it takes that agent's place in the registry.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from aiohttp import web

from tests.loopback import LoopbackServer

CARD_PATH = "/.well-known/agent-card.json"


class FakeAgent:
    """Proxy for the agent at `real_url`; `card_changes` and `reply` steer what it answers."""

    def __init__(self, real_url: str) -> None:
        self.real_url = real_url.rstrip("/")
        self.url = ""
        self.card_changes: dict[str, Any] = {}
        self.reply = "proxy"  # "proxy", "huge" (Content-Length) or "huge-chunked"
        self.huge_bytes = 5 * 1024 * 1024
        self.rpc_calls = 0
        self.card_fetches = 0
        self._server: LoopbackServer | None = None

    async def start(self) -> str:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_get(CARD_PATH, self._card)
        app.router.add_post("/{tail:.*}", self._rpc)
        self._server = LoopbackServer(app)
        self.url = await self._server.start()
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    async def real_card(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(self.real_url + CARD_PATH)
            response.raise_for_status()
            return response.json()

    async def _card(self, request: web.Request) -> web.Response:
        self.card_fetches += 1
        text = json.dumps(await self.real_card()).replace(self.real_url, self.url)
        card = {**json.loads(text), **self.card_changes}
        return web.json_response(card)

    async def _rpc(self, request: web.Request) -> web.StreamResponse:
        self.rpc_calls += 1
        body = await request.read()
        if self.reply == "proxy":
            headers = {
                k: v
                for k, v in request.headers.items()
                # The caller's credential too: it is bound to the card name the proxy shares.
                if k.lower()
                in (
                    "content-type",
                    "a2a-version",
                    "traceparent",
                    "x-correlation-id",
                    "authorization",
                )
            }
            async with httpx.AsyncClient(timeout=30) as client:
                real = await client.post(
                    self.real_url + request.path, content=body, headers=headers
                )
            return web.Response(
                status=real.status_code, body=real.content, content_type="application/json"
            )
        request_id = json.loads(body).get("id")
        head = json.dumps({"jsonrpc": "2.0", "id": request_id, "result": {"padding": ""}})
        prefix, suffix = head[:-3].encode(), head[-3:].encode()  # ... "padding": "  |  "}}
        padding = self.huge_bytes - len(prefix) - len(suffix)
        if self.reply == "huge":
            payload = prefix + b"x" * padding + suffix
            return web.Response(body=payload, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await response.write(prefix)
            chunk = b"x" * 65536
            for _ in range(padding // len(chunk)):
                await response.write(chunk)
            await response.write(suffix)
            await response.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass  # the client stopped reading at its cap and closed the connection
        return response
