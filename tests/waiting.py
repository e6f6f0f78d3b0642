"""Waiting on a state instead of sleeping for a while: a poll with a deadline that only guards
against a hung test, and a gate that holds a blocking call until the test has seen it start."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

Description = str | Callable[[], str]


class _Deadline:
    def __init__(self, timeout: float, what: Description) -> None:
        self.timeout = timeout
        self.what = what
        self.at = time.monotonic() + timeout

    def check(self) -> None:
        if time.monotonic() > self.at:
            detail = self.what() if callable(self.what) else self.what
            raise AssertionError(f"not reached within {self.timeout} s: {detail}")


def wait_until(
    condition: Callable[[], T],
    timeout: float = 20,
    *,
    what: Description = "the condition",
    interval: float = 0.05,
    pause: Callable[[float], object] = time.sleep,
) -> T:
    """Poll `condition` until it returns a truthy value, and return that value. `what` (or what
    it returns, read only on time-out) says what was awaited in the error. `pause` is how to
    wait between polls, for callers whose waiting must keep something else going."""
    deadline = _Deadline(timeout, what)
    while not (value := condition()):
        deadline.check()
        pause(interval)
    return value


async def wait_until_async(
    condition: Callable[[], T],
    timeout: float = 20,
    *,
    what: Description = "the condition",
    interval: float = 0.01,
) -> T:
    """wait_until for a test on an event loop: the loop keeps running while it polls."""
    deadline = _Deadline(timeout, what)
    while not (value := condition()):
        deadline.check()
        await asyncio.sleep(interval)
    return value


def get_or_none(url: str, timeout: float = 5) -> httpx.Response | None:
    """GET `url`, or None while nothing answers there yet (a server still starting)."""
    try:
        return httpx.get(url, timeout=timeout)
    except httpx.TransportError:
        return None


class Gate:
    """Holds a double's blocking call (run on a worker thread) while closed; `entered` tells
    the test that a call has started. Open by default: a double behaves normally until a test
    closes its gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._open = threading.Event()
        self._open.set()

    def close(self) -> None:
        """Hold the next calls; `entered` is cleared, to tell of a call made from now on."""
        self._open.clear()
        self.entered.clear()

    def open(self) -> None:
        self._open.set()

    def pass_through(self, timeout: float = 20) -> None:
        """Called by the double: record the call, then wait until the gate is open."""
        self.entered.set()
        if not self._open.wait(timeout):
            raise AssertionError(f"the gate stayed closed for {timeout} s")

    async def wait_entered(self, timeout: float = 20) -> None:
        """Wait until a call is held at (or has passed) the gate."""
        if not await asyncio.to_thread(self.entered.wait, timeout):
            raise AssertionError(f"no call reached the gate within {timeout} s")


async def run_held(gate: Gate, calls: Iterable[Awaitable[Any]]) -> list[Any]:
    """Start every call while `gate` holds the blocking work of the first, and let it go only
    once all of them wait: whatever they share, they share while it is in flight. Returns each
    call's result or exception."""
    gate.close()
    tasks = [asyncio.ensure_future(call) for call in calls]
    await gate.wait_entered()
    # The tasks were queued before this one resumed, so each has taken its first step: none
    # can have finished while the work is held.
    assert not any(task.done() for task in tasks)
    gate.open()
    return await asyncio.gather(*tasks, return_exceptions=True)
