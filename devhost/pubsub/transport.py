"""One WebSocket under a connection: a bounded outgoing queue drained by a single writer task."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from aiohttp import web

Frame = str | bytes


class Transport:
    """Owns all writes to one WebSocket, so frames go out in the order they were offered."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        capacity: int,
        headroom: int,
        close_timeout: float,
    ) -> None:
        self.ws = ws
        self._request = request
        self._capacity = capacity
        self._headroom = headroom
        self._close_timeout = close_timeout
        self._queue: deque[Frame] = deque()
        self._wakeup = asyncio.Event()
        self._closing: tuple[int, str] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer."""
        self._task = asyncio.get_running_loop().create_task(self._pump())

    @property
    def queued(self) -> int:
        """Frames waiting to be written."""
        return len(self._queue)

    def offer(self, frame: Frame, control: bool = False) -> bool:
        """Queue a frame; False when the queue is full (the caller drops the receiver).

        Data frames fill up to `capacity`; control frames (acks, pongs) may use the headroom.
        """
        if self._closing is not None:
            return True
        if len(self._queue) >= self._capacity + (self._headroom if control else 0):
            return False
        self._queue.append(frame)
        self._wakeup.set()
        return True

    def close(self, code: int, reason: str, last: Frame | None = None, flush: bool = True) -> None:
        """Close after the queued frames (flush) or at once, dropping them (a stuck receiver)."""
        if self._closing is not None:
            return
        self._closing = (code, reason)
        if last is not None:
            self._queue.append(last)
        if flush:
            self._wakeup.set()
            return
        # The writer may be blocked on a peer that does not read: stop it and close directly.
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(self._close_socket())

    def abort(self) -> None:
        """Drop the socket without a closing handshake (it was replaced by a newer one)."""
        self._closing = self._closing or (1001, "superseded")
        if self._task is not None:
            self._task.cancel()
        if self._request.transport is not None:
            self._request.transport.abort()

    async def shutdown(self) -> None:
        """Stop the writer once the socket is gone; let a closing handshake in flight finish."""
        task = self._task
        if task is None or task.done():
            return
        if self._closing is None:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _pump(self) -> None:
        try:
            while True:
                if self._queue:
                    frame = self._queue.popleft()
                    if isinstance(frame, str):
                        await self.ws.send_str(frame)
                    else:
                        await self.ws.send_bytes(frame)
                    continue
                if self._closing is not None:
                    break
                self._wakeup.clear()
                await self._wakeup.wait()
        except (ConnectionError, RuntimeError):
            return  # the peer is gone; the receive side notices and detaches
        await self._close_socket()

    async def _close_socket(self) -> None:
        assert self._closing is not None
        code, reason = self._closing
        try:
            await asyncio.wait_for(
                self.ws.close(code=code, message=_close_reason(reason)), self._close_timeout
            )
        except (TimeoutError, ConnectionError, RuntimeError):
            if self._request.transport is not None:
                self._request.transport.abort()


def _close_reason(reason: str) -> bytes:
    # A close frame carries at most 123 bytes of reason; cut on a character boundary.
    return reason.encode("utf-8")[:120].decode("utf-8", "ignore").encode("utf-8")
