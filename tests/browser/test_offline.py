"""The network goes away in the middle of a delegation and comes back: the page reconnects and
shows every event the service sent meanwhile."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from websockets.sync.client import connect

from tests.browser.conftest import HUB, TIMEOUT_MS
from tests.waiting import wait_until

pytestmark = pytest.mark.azurite

QUICK_REPLY = {"VOICE_SYNC_WAIT_SECONDS": "0.5"}
# agent.status -> the agent's light in the network view (web/src/agents.js)
ACTIVITY = {
    "started": "working",
    "retrying": "retrying",
    "completed": "completed",
    "failed": "failed",
    "timed-out": "timed-out",
}


class Witness:
    """A second connection of the same user that is never cut: every event the service sent."""

    def __init__(self, socket) -> None:
        self.events: list[dict] = []
        self.thread = threading.Thread(target=self._read, args=(socket,), daemon=True)
        self.thread.start()

    def _read(self, socket) -> None:
        for message in socket:
            self.events.append(json.loads(message))

    def of(self, instance_id: str) -> list[dict]:
        return [event for event in self.events if event.get("instanceId") == instance_id]


@pytest.fixture
def witness(system):
    service = WebPubSubServiceClient.from_connection_string(system.connection_string, hub=HUB)
    # No subprotocol: each message is one event, exactly as it was published.
    with connect(service.get_client_access_token(user_id="ada")["url"]) as socket:
        witness = Witness(socket)
        yield witness
    witness.thread.join(5)


def wait_on_page(page, condition: Callable[[], object], what: str) -> None:
    """wait_until, pausing through Playwright: its sync API dispatches the page's events and
    runs the socket routes only while one of its calls is running, never during a time.sleep."""
    wait_until(
        condition,
        TIMEOUT_MS / 1000,
        what=what,
        interval=0.1,
        pause=lambda seconds: page.page.wait_for_timeout(seconds * 1000),
    )


@pytest.mark.parametrize("overrides", [QUICK_REPLY])
@pytest.mark.parametrize("loss", ["socket-stalled", "socket-cut", "connection-lost"])
def test_offline_then_online_loses_no_event(system, witness, loss):
    """Chromium's offline emulation (set_offline) fails HTTP requests and fires offline/online,
    but it does not close an open WebSocket: it only holds its frames until the page is online
    again (found here: no close event, no frame while offline, the held frames right after).
    "socket-stalled" is that case. "socket-cut" also routes the socket through Playwright
    (route_web_socket) and closes it abnormally (1006) when the page goes offline, refusing
    every new socket until it is online, as a real network loss does; the SDK's reliable
    protocol then recovers the same connection, and the service replays what it sent
    meanwhile. "connection-lost" refuses that recovery too, as when the service has dropped the
    connection: what it sent is gone, and the page reads the turn's state instead. In every
    case the page starts a new connection with a fresh token when it is back online, keeps the
    old one a while for what it still holds, and polls the pending answer and its progress."""
    # Requests the page makes while offline fail; the browser logs each of them.
    page = system.new_page(
        allow_console=("Failed to load resource: net::ERR_INTERNET_DISCONNECTED",)
    )
    sockets: list = []
    recoveries: list[str] = []
    network = {"up": True}

    def route(ws) -> None:
        if not network["up"]:
            ws.close(code=1006, reason="offline")
            return
        if "awps_connection_id=" in ws.url:
            recoveries.append(ws.url)
            if loss == "connection-lost":
                ws.close(code=1008, reason="the connection is gone")
                return
        ws.connect_to_server()
        sockets.append(ws)

    cut = loss != "socket-stalled"
    if cut:
        page.page.route_web_socket(re.compile(r"/client/hubs/"), route)
    page.sign_in()
    system.faults("outage-check", latencyMs=3000)

    page.ask("Is there an outage in my area?", "CUST-0001", ("no_internet",))
    turn = page.page.locator("#timeline li.turn")
    page.page.locator("#timeline li.turn[data-state=interim]").wait_for()
    instance_id = turn.get_attribute("data-instance-id")
    page.page.locator(
        "#agents li.agent[data-agent=contoso-outage-check-agent][data-activity=working]"
    ).wait_for()

    page.context.set_offline(True)
    if cut:
        network["up"] = False
        sockets[-1].close(code=1006, reason="network lost")
    page.page.locator("#events-state[data-state=offline]").wait_for()
    # Everything else happens while the page is offline: the slow agent, the answer.
    wait_on_page(
        page,
        lambda: any(e["type"] == "message" for e in witness.of(instance_id)),
        "the answer, sent while the page is offline",
    )
    page.page.wait_for_timeout(500)  # time enough to show the answer, were it getting through
    assert turn.get_attribute("data-state") == "interim"
    page.screenshot(f"events-offline-{loss}")

    network["up"] = True
    page.context.set_offline(False)

    page.page.locator("#timeline li.turn[data-state=answered]").wait_for()
    page.wait_events_connected()
    history = page.page.locator("#events-state").get_attribute("data-history")
    assert re.search(r"connected offline( \S+)* connected$", history), history
    assert page.count("POST", "/api/events/negotiate") == 2
    if cut:  # the old connection is recovered (and drained) as well, or tried to be
        wait_on_page(page, lambda: recoveries, "a recovery of the old connection")

    # Every event the service sent for this delegation shows, each agent as it last reported.
    sent = witness.of(instance_id)
    last = {e["agent"]: e["data"]["status"] for e in sent if e["type"] == "agent.status"}
    assert "contoso-outage-check-agent" in last, sent
    for agent, status in last.items():
        light = f"#agents li.agent[data-agent={agent}][data-activity={ACTIVITY[status]}]"
        page.page.locator(light).wait_for()
        assert turn.locator(f".turn-agents li[data-agent={agent}]").count() == 1
    [message] = [e for e in sent if e["type"] == "message"]
    assert turn.locator(".answer-text").inner_text() == message["data"]["text"]
    page.assert_clean()
