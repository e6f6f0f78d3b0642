"""A user's live events, recorded end to end: a WebSocket client of the local Web PubSub
service, negotiated through the app as the page does."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path

import websockets

from tests.conftest import remember_secret
from tests.system import LocalSystem
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def finished(event: dict) -> bool:
    return event["type"] == "task.updated" and event["data"]["state"] == "completed"


def approval_requested(event: dict) -> bool:
    return event["type"] == "approval.requested"


class EventRecorder:
    """A user's live events, recorded by a WebSocket client on its own thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[dict] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._stop = False

    async def _run(self) -> None:
        async with websockets.connect(self.url, subprotocols=["json.webpubsub.azure.v1"]) as ws:
            self._ready.set()
            while not self._stop:
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
                except TimeoutError:
                    continue
                if frame.get("type") == "message":
                    self.events.append(frame["data"])

    def start(self) -> EventRecorder:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._stop = True
        self._thread.join(5)

    def of(
        self, call_id: str, *, until: Callable[[dict], bool] = finished, timeout: float = 10
    ) -> list[dict]:
        """This call's events, once one that `until` accepts has arrived. By default that is
        the task's last: events are published in order, so every other one came before it."""

        def arrived() -> list[dict] | None:
            mine = [e for e in self.events if e.get("callId") == call_id]
            return mine if any(until(e) for e in mine) else None

        return wait_until(arrived, timeout, what=lambda: f"the event of {call_id}: {self.events}")


def record_events(system: LocalSystem, user: str = "ada", roles: tuple[str, ...] = ("user",)):
    """A WebSocket client recording `user`'s live events (negotiated through the app)."""
    response = system.app.http.post("/api/events/negotiate", headers=system.headers(user, roles))
    assert response.status_code == 200, response.text
    return EventRecorder(remember_secret(response.json()["url"])).start()


def agent_statuses(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["agent"], e["data"]["status"]) for e in events if e["type"] == "agent.status"]
