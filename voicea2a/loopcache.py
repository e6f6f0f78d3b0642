"""One resource per running event loop: async SDK clients bind to the loop that first uses them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """Lazily creates one `T` per running event loop and closes them on request."""

    def __init__(self, factory: Callable[[], T], closer: Callable[[T], Awaitable[None]]) -> None:
        self._factory = factory
        self._closer = closer
        self._items: dict[asyncio.AbstractEventLoop, T] = {}

    def get(self) -> T:
        """Return this loop's instance, creating it on first use (call from a coroutine)."""
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is None:
            # Instances of closed loops are unusable; forget them so they can be collected.
            for stale in [lp for lp in self._items if lp.is_closed()]:
                del self._items[stale]
            item = self._items[loop] = self._factory()
        return item

    async def close_all(self) -> None:
        """Close this loop's instance and forget every instance (those of other loops unclosed)."""
        loop = asyncio.get_running_loop()
        items, self._items = self._items, {}
        item = items.get(loop)
        if item is not None:
            await self._closer(item)
