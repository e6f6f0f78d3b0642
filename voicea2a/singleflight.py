"""Concurrent callers needing the same slow value share one blocking call."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar, cast

T = TypeVar("T")

# What `cached` returns when it has nothing fresh (None can be a real value: a missing secret).
MISS = object()


class SingleFlight(Generic[T]):
    """Runs `fetch` on a worker thread once per key at a time; every waiter gets its result.

    The shared future is a thread future, not an asyncio one: it serves callers on any event
    loop, and (marked running) a cancelled caller cannot cancel it for the others.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, concurrent.futures.Future[T]] = {}

    async def get(self, key: Hashable, cached: Callable[[], object], fetch: Callable[[], T]) -> T:
        """Return `cached()` unless it is MISS, else join (or start) the call to `fetch`."""
        with self._lock:
            value = cached()
            if value is not MISS:
                return cast(T, value)  # not MISS: what `fetch` returned earlier
            flight = self._flights.get(key)
            owner = flight is None
            if flight is None:
                flight = self._flights[key] = concurrent.futures.Future()
                flight.set_running_or_notify_cancel()
        if owner:
            await asyncio.to_thread(self._fly, key, fetch, flight)
        return await asyncio.wrap_future(flight)

    def _fly(
        self, key: Hashable, fetch: Callable[[], T], flight: concurrent.futures.Future[T]
    ) -> None:
        try:
            value = fetch()
        except BaseException as exc:
            with self._lock:
                self._flights.pop(key, None)
            flight.set_exception(exc)
        else:
            with self._lock:
                self._flights.pop(key, None)
            flight.set_result(value)
