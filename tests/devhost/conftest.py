"""Fixtures for the devhost conformance suite: devhosts on one background event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.host import DevHost

APPS = Path(__file__).parent / "apps"


class LoopThread:
    """An event loop in a thread. All devhosts share it: the Durable SDK keeps one aiohttp
    session per process, bound to the loop that first used it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="devhost-loop", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    yield LoopThread()


class RunningHost:
    """A started devhost plus an HTTP client pointed at it."""

    def __init__(self, host: DevHost, loop: LoopThread) -> None:
        self.host = host
        self.loop = loop
        self.http = httpx.Client(base_url=host.base_url, timeout=30)

    @property
    def engine(self):
        return self.host.engine

    def wait(self, instance_id: str, timeout: float = 20):
        return self.loop.run(self.engine.wait(instance_id, timeout), timeout + 5)


@pytest.fixture
def start_host(loop_thread: LoopThread) -> Iterator[Callable[..., RunningHost]]:
    started: list[RunningHost] = []

    def start(app: str | Path, **options: Any) -> RunningHost:
        root = app if isinstance(app, Path) else APPS / app
        host = DevHost(root, port=0, **options)
        loop_thread.run(host.start())
        running = RunningHost(host, loop_thread)
        started.append(running)
        return running

    yield start
    for running in started:
        running.http.close()
        loop_thread.run(running.host.stop())
