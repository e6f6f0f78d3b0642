"""Connections, their users and groups, delivery with sequence ids, and the recovery window."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable

from devhost.pubsub import frames
from devhost.pubsub.frames import Payload
from devhost.pubsub.tokens import ClientIdentity
from devhost.pubsub.transport import Frame, Transport

log = logging.getLogger("devhost.pubsub")

QUEUE_FULL = "The outbound message queue is full."
BUFFER_FULL = "The reliable message buffer is full."
RECOVERY_EXPIRED = "Connection recovery timed out."
# Headroom above the data bound so acks, pongs and the final frames always find a slot.
CONTROL_HEADROOM = 32
# How many processed ackIds a connection remembers for `Duplicate` answers.
ACK_ID_MEMORY = 10_000


class Connection:
    """One logical client connection; with the reliable protocol it outlives its sockets."""

    def __init__(
        self,
        registry: Registry,
        hub: str,
        identity: ClientIdentity,
        subprotocol: str | None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.hub = hub
        self.user_id = identity.user_id
        self.roles: set[str] = set(identity.roles)
        self.groups: set[str] = set(identity.groups)
        self.subprotocol = subprotocol
        self.reliable = subprotocol == frames.RELIABLE_PROTOCOL
        self.raw = subprotocol is None
        self.closed = False
        self._registry = registry
        self._transport: Transport | None = None
        self._unacked: OrderedDict[int, str] = OrderedDict()
        self._last_sequence_id = 0
        self._ack_ids: OrderedDict[int, None] = OrderedDict()
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def attached(self) -> bool:
        """True while a socket is attached."""
        return self._transport is not None

    @property
    def queued(self) -> int:
        """Frames waiting in the attached socket's outgoing queue."""
        return self._transport.queued if self._transport is not None else 0

    @property
    def unacked(self) -> int:
        """Reliable messages sent but not yet acknowledged by the client."""
        return len(self._unacked)

    def attach(self, transport: Transport, first_frame: str | None) -> None:
        """Attach a socket: the connected frame for a new connection, or a replay on recovery."""
        previous, self._transport = self._transport, transport
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if previous is not None:
            previous.abort()
        if first_frame is not None:
            transport.offer(first_frame, control=True)
        # Replay goes in before anything published later: this runs without yielding.
        for frame in self._unacked.values():
            transport.offer(frame)

    def detach(self, transport: Transport, recoverable: bool, reason: str) -> None:
        """The socket ended: keep a reliable session for the recovery window, else remove it."""
        if self._transport is not transport or self.closed:
            return
        self._transport = None
        if recoverable and self.reliable:
            window = self._registry.reconnect_window
            self._expiry = asyncio.get_running_loop().call_later(window, self._expire)
            log.info("pubsub detach hub=%s connection=%s (recoverable)", self.hub, self.id)
            return
        self._registry.remove(self, reason)

    def close(self, reason: str, code: int = 1000) -> None:
        """Close as the service does: a `disconnected` frame (not for raw clients), then close."""
        if self.closed:
            return
        self._registry.remove(self, reason)
        if self._transport is not None:
            last = None if self.raw else frames.disconnected(reason)
            self._transport.close(code, reason, last=last)
            self._transport = None

    def send_server(self, payload: Payload) -> None:
        """Deliver a message from the server (REST send to all/user/group member/connection)."""
        if self.raw:
            self._offer(payload.raw_frame())
        else:
            self._send_data(lambda sequence_id: frames.server_message(payload, sequence_id))

    def send_group(self, group: str, from_user_id: str | None, payload: Payload) -> None:
        """Deliver a group message (from a client, or from the server when from_user_id is None)."""
        if self.raw:
            self._offer(payload.raw_frame())
        else:
            self._send_data(
                lambda sequence_id: frames.group_message(group, from_user_id, payload, sequence_id)
            )

    def send_control(self, frame: str) -> None:
        """Send an ack or pong (not sequenced, not kept for replay)."""
        self._offer(frame, control=True)

    def acknowledge(self, sequence_id: int) -> None:
        """A cumulative `sequenceAck`: forget every message up to sequence_id."""
        while self._unacked:
            first = next(iter(self._unacked))
            if first > sequence_id:
                break
            del self._unacked[first]

    def ack_id_seen(self, ack_id: int) -> bool:
        """True when a request with this ackId was already processed successfully."""
        return ack_id in self._ack_ids

    def remember_ack_id(self, ack_id: int) -> None:
        """Record a processed ackId (the oldest are forgotten past ACK_ID_MEMORY)."""
        self._ack_ids[ack_id] = None
        while len(self._ack_ids) > ACK_ID_MEMORY:
            self._ack_ids.popitem(last=False)

    def _send_data(self, build: Callable[[int | None], str]) -> None:
        if self.closed:
            return
        if not self.reliable:
            self._offer(build(None))
            return
        if len(self._unacked) >= self._registry.max_queue:
            self._drop(BUFFER_FULL)
            return
        self._last_sequence_id += 1
        frame = build(self._last_sequence_id)
        self._unacked[self._last_sequence_id] = frame
        self._offer(frame)

    def _offer(self, frame: Frame, control: bool = False) -> None:
        if self.closed or self._transport is None:
            return
        if not self._transport.offer(frame, control):
            self._drop(QUEUE_FULL)

    def _drop(self, reason: str) -> None:
        """A receiver that cannot keep up: forget its session and close it (1008, no replay)."""
        self._registry.remove(self, reason)
        if self._transport is not None:
            self._transport.close(1008, reason, flush=False)
            self._transport = None

    def _expire(self) -> None:
        self._expiry = None
        if not self.closed and self._transport is None:
            self._registry.remove(self, RECOVERY_EXPIRED)

    def release(self) -> None:
        """Free what the connection holds once it is removed."""
        self.closed = True
        self._unacked.clear()
        self._ack_ids.clear()
        self.groups.clear()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None


class Registry:
    """All live connections, by hub and id (hub names are case-insensitive)."""

    def __init__(self, max_queue: int, reconnect_window: float) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.max_queue = max_queue
        self.reconnect_window = reconnect_window
        self._connections: dict[tuple[str, str], Connection] = {}

    def create(self, hub: str, identity: ClientIdentity, subprotocol: str | None) -> Connection:
        """Register a new connection."""
        connection = Connection(self, hub.lower(), identity, subprotocol)
        self._connections[(connection.hub, connection.id)] = connection
        return connection

    def get(self, hub: str, connection_id: str) -> Connection | None:
        """The live connection with this id in this hub, if any."""
        return self._connections.get((hub.lower(), connection_id))

    def remove(self, connection: Connection, reason: str) -> None:
        """Forget a connection and release its buffers."""
        if self._connections.pop((connection.hub, connection.id), None) is None:
            return
        connection.release()
        log.info(
            "pubsub disconnect hub=%s connection=%s user=%s reason=%s",
            connection.hub,
            connection.id,
            connection.user_id,
            reason,
        )

    def count(self) -> int:
        """How many connections are live (attached or within their recovery window)."""
        return len(self._connections)

    def in_hub(self, hub: str) -> list[Connection]:
        """Every connection of a hub."""
        hub = hub.lower()
        return [c for (h, _), c in self._connections.items() if h == hub]

    def of_user(self, hub: str, user_id: str) -> list[Connection]:
        """The connections of one user."""
        return [c for c in self.in_hub(hub) if c.user_id == user_id]

    def in_group(self, hub: str, group: str) -> list[Connection]:
        """The connections in one group."""
        return [c for c in self.in_hub(hub) if group in c.groups]

    def close_all(self, reason: str, code: int = 1001) -> None:
        """Close every connection (service shutdown)."""
        for connection in list(self._connections.values()):
            connection.close(reason, code=code)
