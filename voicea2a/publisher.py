"""Publish events through Azure Web PubSub: best effort, bounded, never raising into the caller."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from voicea2a.config import ConfigError, Settings, get_settings, parse_connection_string
from voicea2a.events import OPS_GROUP, Event
from voicea2a.loopcache import PerLoop
from voicea2a.proxies import proxy_options
from voicea2a.telemetry.metrics import record_event_failed, record_event_published

log = logging.getLogger(__name__)
ATTEMPTS = 2  # one retry: an outage must cost the caller little, and never fail it


@dataclass
class PublishStats:
    """Counters of this process (benchmarks read them; the `events.published` and
    `events.failed` metrics count the same, per event type), and whether Web PubSub answered
    the last attempt (while it does not, nothing waits for events: EventLane.sent)."""

    published: int = 0
    failed: int = 0
    skipped: int = 0
    answering: bool = True


stats = PublishStats()


def _client(settings: Settings) -> Any:
    """A Web PubSub service client from the connection string, or the endpoint + identity."""
    from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

    endpoint = settings.webpubsub_service_endpoint
    if endpoint is None:  # publish() never gets here without Web PubSub configured
        raise ConfigError("WEBPUBSUB_CONNECTION_STRING or WEBPUBSUB_ENDPOINT is not set")
    hub = settings.webpubsub_hub
    if settings.webpubsub_connection_string:
        from azure.core.credentials import AzureKeyCredential

        key = parse_connection_string(settings.webpubsub_connection_string)["accesskey"]
        # The endpoint config.py checked (with `Port=` applied as the SDK applies it).
        return WebPubSubServiceClient(
            endpoint, hub, credential=AzureKeyCredential(key), **proxy_options(endpoint)
        )
    from voicea2a.identity import async_azure_credential

    credential = async_azure_credential(settings.managed_identity_client_id)
    return WebPubSubServiceClient(endpoint, hub, credential=credential, **proxy_options(endpoint))


async def _close(client: Any) -> None:
    await client.close()


_clients: PerLoop[Any] = PerLoop(lambda: _client(get_settings()), _close)


def service_client() -> Any:
    """The running loop's Web PubSub client (None when Web PubSub is not configured)."""
    if get_settings().webpubsub_service_endpoint is None:
        return None
    return _clients.get()


async def close_clients() -> None:
    """Stop the lanes still sending, then close this loop's client (tests, shutdown)."""
    lanes = _this_loops(_lanes)
    for task in lanes:
        task.cancel()
    await asyncio.gather(*lanes, return_exceptions=True)
    await _clients.close_all()


async def _send(client: Any, event: Event, timeout: float) -> None:
    message = event.envelope()
    options = {
        "content_type": "application/json",
        "retry_total": 0,
        "connection_timeout": timeout,
        "read_timeout": timeout,
    }
    if event.to_everyone:
        await client.send_to_all(message, **options)
        return
    await client.send_to_user(event.owner, message, **options)
    if event.to_ops:
        await client.send_to_group(OPS_GROUP, message, **options)


async def publish(event: Event) -> bool:
    """Send `event` to its audience; False (logged and counted) when Web PubSub failed."""
    settings = get_settings()
    client = service_client()
    if client is None:
        stats.skipped += 1
        return False
    timeout = settings.events_publish_timeout_seconds
    failure = None
    for _ in range(ATTEMPTS):
        try:
            await asyncio.wait_for(_send(client, event, timeout), timeout)
        except Exception as exc:  # an outage must never reach the orchestration or the request
            failure, stats.answering = exc, False
            continue
        stats.answering = True
        stats.published += 1
        record_event_published(event.type)
        return True
    stats.failed += 1
    record_event_failed(event.type)
    log.warning(
        "event %s %s not published: %s",
        event.type,
        event.id,
        type(failure).__name__,
        extra={"event": "events.failed", "kind": event.type},
    )
    return False


async def publish_all(events: list[Event], budget_seconds: float) -> int:
    """Send `events` within `budget_seconds` in all: each agent's events (and the task's own)
    in order, the agents' side by side. Returns how many were delivered; the ones the budget
    left unsent are dropped, logged and counted like failed ones."""
    lanes: dict[str | None, list[Event]] = {}
    for event in events:
        lanes.setdefault(event.agent, []).append(event)
    unsent = {id(event): event for event in events}
    delivered = 0

    async def send(lane: list[Event]) -> None:
        nonlocal delivered
        for event in lane:
            delivered += await publish(event)
            unsent.pop(id(event), None)

    tasks = [asyncio.create_task(send(lane)) for lane in lanes.values()]
    _, late = await asyncio.wait(tasks, timeout=budget_seconds)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    if unsent:
        stats.failed += len(unsent)
        for event in unsent.values():
            record_event_failed(event.type)
        first = next(iter(unsent.values()))
        log.warning(
            "%d event(s) of %s not published: the batch ran out of its %g s budget",
            len(unsent),
            first.instance_id or first.conversation_id,
            budget_seconds,
            extra={"event": "events.failed", "kind": first.type},
        )
    return delivered


# Every lane's sending task (asyncio keeps only weak references to tasks), until it is done.
_lanes: set[asyncio.Task[None]] = set()


def _this_loops(tasks: set[asyncio.Task[None]]) -> list[asyncio.Task[None]]:
    loop = asyncio.get_running_loop()
    return [task for task in tasks if task.get_loop() is loop]


async def lanes_sent() -> None:
    """Wait until every lane of this loop has sent what it had (a closed one within its
    budget)."""
    await asyncio.gather(*_this_loops(_lanes), return_exceptions=True)


class EventLane:
    """Events published one after another, in order, beside the owner's work and never holding
    it up.

    `send` queues an event that goes out whatever comes next; `offer` one that a newer offer
    replaces while another is out (progress: only the latest matters), at most `max_offers`.
    `sent` lets the owner wait, briefly and only while Web PubSub answers, for what it queued.
    `close` drops the offer still waiting, queues the owner's last event and leaves the lane to
    finish in the background within `budget_seconds`.
    """

    def __init__(self, budget_seconds: float, max_offers: int = 0) -> None:
        self.budget_seconds = budget_seconds
        self.max_offers = max_offers
        self.queued: deque[Event] = deque()
        self.offered: Event | None = None
        self.offers = 0
        self.sending: asyncio.Task[None] | None = None
        self.closed = False
        self.queued_count = 0  # events ever queued; `handled` of them sent or given up
        self.handled = 0
        self.progress = asyncio.Event()  # set whenever `handled` grows

    def send(self, event: Event) -> None:
        """Queue `event` (returns at once)."""
        self.queued.append(event)
        self.queued_count += 1
        self._start()

    def offer(self, event: Event) -> None:
        """Offer `event`, replacing an offer not sent yet (returns at once)."""
        if self.offers >= self.max_offers:
            return
        self.offers += 1
        self.offered = event
        self._start()

    async def sent(self, limit: float) -> None:
        """Wait until the events queued so far have been sent (or given up), at most `limit`
        seconds, and not at all while Web PubSub is not answering (PublishStats.answering): so
        the next step's events come after these, and an outage never holds up the work."""
        target = self.queued_count
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while self.handled < target and stats.answering and self.sending is not None:
            self.progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.progress.wait(), deadline - loop.time())
            if loop.time() >= deadline:
                return

    def close(self, last: Event | None = None) -> asyncio.Task[None] | None:
        """Drop the waiting offer, queue `last`; the task still sending, if any (it is given
        `budget_seconds` more, then stopped and what it had left counted as failed). Closing
        twice does nothing more."""
        if self.closed:
            return None
        self.closed = True
        self.offered = None
        if last is not None:
            self.send(last)
        task = self.sending
        if task is None or task.done():
            return None
        stop = asyncio.get_running_loop().call_later(self.budget_seconds, task.cancel)
        task.add_done_callback(lambda _: stop.cancel())
        return task

    def _start(self) -> None:
        if self.sending is None or self.sending.done():
            self.sending = asyncio.create_task(self._drain())
            _lanes.add(self.sending)
            self.sending.add_done_callback(_lanes.discard)

    async def _drain(self) -> None:
        current: Event | None = None
        try:
            while self.queued or self.offered is not None:
                from_queue = bool(self.queued)
                if from_queue:
                    current = self.queued.popleft()
                else:
                    current, self.offered = self.offered, None
                if current is not None:
                    await publish(current)  # an outage is logged and counted there
                current = None
                if from_queue:
                    self.handled += 1
                    self.progress.set()
        except asyncio.CancelledError:
            self._give_up(current, f"the lane ran out of its {self.budget_seconds:g} s budget")
            raise
        except Exception as exc:  # in the background, nobody would see it: logged and counted
            self._give_up(current, f"the lane stopped on {type(exc).__name__}")

    def _give_up(self, current: Event | None, why: str) -> None:
        """Count what this lane leaves unsent as failed, in one log line."""
        left = [*([current] if current else []), *self.queued]
        self.handled = self.queued_count  # nothing of it is coming any more
        self.progress.set()
        self.queued.clear()
        if not left:
            return
        stats.failed += len(left)
        for unsent in left:
            record_event_failed(unsent.type)
        log.warning(
            "%d event(s) of %s not published: %s",
            len(left),
            left[0].instance_id or left[0].conversation_id,
            why,
            extra={"event": "events.failed", "kind": left[0].type},
        )
