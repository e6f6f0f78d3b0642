"""`@azure/web-pubsub-client` (Node, `node --test`) against the local service."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.devhost.pubsub.support import RunningService
from tests.loopback import LoopbackServer

ROOT = Path(__file__).resolve().parents[3]
NODE_TEST = ROOT / "tests" / "node" / "webpubsub_client.test.mjs"
USER = "node-user"


class Control:
    """The pytest side of the Node test: mints client URLs and acts through the Python SDK."""

    def __init__(self, running: RunningService) -> None:
        self.sdk = running.sdk()
        self.minted = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/negotiate", self.negotiate)
        app.router.add_post("/publish", self.publish)
        app.router.add_post("/kick", self.kick)
        return app

    async def negotiate(self, request: web.Request) -> web.Response:
        self.minted += 1
        # The SDK signs locally with the access key: no call leaves the process.
        token = self.sdk.get_client_access_token(user_id=USER, minutes_to_expire=5)
        return web.json_response({"url": token["url"]})

    async def publish(self, request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.to_thread(self.sdk.send_to_user, USER, {"text": body["text"]})
        return web.Response(status=204)

    async def kick(self, request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.to_thread(
            self.sdk.close_connection, body["connectionId"], reason="kicked by the test"
        )
        return web.Response(status=204)


@pytest.fixture
def control_server(pubsub: RunningService, pubsub_loop) -> Iterator[tuple[Control, str]]:
    control = Control(pubsub)
    # Served on the service's loop, where the SDK calls of its handlers are made.
    server = LoopbackServer(control.app())
    url = asyncio.run_coroutine_threadsafe(server.start(), pubsub_loop).result(30)
    yield control, url
    asyncio.run_coroutine_threadsafe(server.stop(), pubsub_loop).result(30)


def test_the_node_client_receives_and_recovers(pubsub, control_server):
    control, control_url = control_server
    node = shutil.which("node")
    assert node, "Node.js is required (scripts/setup.sh installs the npm packages)"
    env = {
        **os.environ,
        "WEBPUBSUB_SERVICE_URL": pubsub.service.base_url,
        "WEBPUBSUB_NEGOTIATE_URL": f"{control_url}/negotiate",
        "WEBPUBSUB_CONTROL_URL": control_url,
    }
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(NODE_TEST)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, f"node --test failed:\n{result.stdout}\n{result.stderr}"
    assert control.minted == 2
