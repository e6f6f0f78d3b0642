"""The client endpoint `GET /client/hubs/{hub}`: token checks, subprotocols, recovery, requests."""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web

from devhost.pubsub import frames, permissions
from devhost.pubsub.hubs import valid_hub
from devhost.pubsub.state import CONTROL_HEADROOM, Connection, Registry
from devhost.pubsub.tokens import (
    TokenError,
    client_audience,
    issue_reconnection_token,
    verify_client_token,
    verify_reconnection_token,
)
from devhost.pubsub.transport import Transport

log = logging.getLogger("devhost.pubsub")

MAX_CLIENT_FRAME = 1024 * 1024
NOT_RECOVERABLE = "The connection could not be recovered."
INVALID_FRAME = "The client message is not a valid JSON protocol message."
# There is no upstream event handler in the local service, so events cannot be delivered.
NO_EVENT_HANDLER = "This local service has no event handler: the event was not delivered."


class ClientEndpoint:
    """Accepts client WebSockets and runs the JSON subprotocols over them."""

    def __init__(
        self,
        registry: Registry,
        access_key: str,
        public_endpoint: str | None,
        close_timeout: float,
    ) -> None:
        self._registry = registry
        self._key = access_key
        self._public_endpoint = public_endpoint
        self._close_timeout = close_timeout

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Route a client connect or a reliable-protocol recovery."""
        hub = request.match_info["hub"]
        if not valid_hub(hub):
            return web.Response(status=400, text="Invalid hub name.")
        if not _websocket(frames.SUBPROTOCOLS).can_prepare(request).ok:
            return web.Response(status=400, text="A WebSocket upgrade is required.")
        connection_id = request.query.get("awps_connection_id")
        if connection_id:
            token = request.query.get("awps_reconnection_token", "")
            return await self._recover(request, hub, connection_id, token)
        return await self._connect(request, hub)

    def _audiences(self, request: web.Request, hub: str) -> list[str]:
        audiences = [client_audience(f"{request.scheme}://{request.host}", hub)]
        if self._public_endpoint:
            audiences.append(client_audience(self._public_endpoint, hub))
        return audiences

    async def _connect(self, request: web.Request, hub: str) -> web.StreamResponse:
        token = request.query.get("access_token") or _bearer(request)
        if not token:
            log.info("pubsub refused hub=%s reason=no access token", hub)
            return web.Response(status=401, text="An access token is required.")
        try:
            identity = verify_client_token(token, self._key, self._audiences(request, hub))
        except TokenError as error:
            log.info("pubsub refused hub=%s reason=%s", hub, error)
            return web.Response(status=401, text="The access token is not valid.")
        ws = _websocket(frames.SUBPROTOCOLS)
        await ws.prepare(request)
        connection = self._registry.create(hub, identity, ws.ws_protocol)
        log.info(
            "pubsub connect hub=%s connection=%s user=%s protocol=%s",
            connection.hub,
            connection.id,
            connection.user_id,
            connection.subprotocol or "raw",
        )
        transport = self._transport(request, ws)
        first = None
        if not connection.raw:
            reconnection = (
                issue_reconnection_token(self._key, connection.id) if connection.reliable else None
            )
            first = frames.connected(connection.user_id, connection.id, reconnection)
        connection.attach(transport, first)
        await self._serve(connection, transport)
        return ws

    async def _recover(
        self, request: web.Request, hub: str, connection_id: str, token: str
    ) -> web.StreamResponse:
        connection = self._registry.get(hub, connection_id)
        valid = (
            connection is not None
            and connection.reliable
            and verify_reconnection_token(token, self._key, connection_id)
        )
        protocols = (
            (connection.subprotocol,)
            if valid and connection and connection.subprotocol
            else frames.SUBPROTOCOLS
        )
        ws = _websocket(protocols)
        await ws.prepare(request)
        # The session may have expired while the handshake was written.
        if not valid or connection is None or connection.closed:
            log.info("pubsub recover refused hub=%s connection=%s", hub, connection_id)
            await ws.close(code=1008, message=NOT_RECOVERABLE.encode())
            return ws
        log.info(
            "pubsub recover hub=%s connection=%s replay=%d",
            connection.hub,
            connection.id,
            connection.unacked,
        )
        transport = self._transport(request, ws)
        connection.attach(transport, None)
        await self._serve(connection, transport)
        return ws

    def _transport(self, request: web.Request, ws: web.WebSocketResponse) -> Transport:
        transport = Transport(
            request, ws, self._registry.max_queue, CONTROL_HEADROOM, self._close_timeout
        )
        transport.start()
        return transport

    async def _serve(self, connection: Connection, transport: Transport) -> None:
        ws = transport.ws
        # Only a close frame with 1000 ends a session; a drop or any other code may recover
        # (the JS client closes with no code on a keep-alive timeout and then recovers).
        recoverable, reason = True, "The connection dropped."
        try:
            while True:
                message = await ws.receive()
                if message.type == WSMsgType.TEXT:
                    if not connection.raw and not self._on_frame(connection, message.data):
                        connection.close(INVALID_FRAME, code=1007)
                        break
                elif message.type == WSMsgType.BINARY:
                    if not connection.raw:
                        connection.close("The JSON subprotocol requires text messages.", 1003)
                        break
                elif message.type == WSMsgType.CLOSE:
                    recoverable = message.data != 1000
                    reason = message.extra or f"The client closed the connection ({message.data})."
                    break
                else:  # CLOSING (we close it), CLOSED (EOF) or ERROR
                    break
        finally:
            connection.detach(transport, recoverable, reason)
            await transport.shutdown()

    def _on_frame(self, connection: Connection, text: str) -> bool:
        """Handle one client frame; False when it is malformed (the connection is closed)."""
        try:
            request = frames.parse_request(text)
        except frames.FrameError:
            return False
        if request.type == "ping":
            connection.send_control(frames.pong())
        elif request.type == "sequenceAck":
            assert request.sequence_id is not None
            connection.acknowledge(request.sequence_id)
        elif request.ack_id is not None and connection.ack_id_seen(request.ack_id):
            message = f"Message with ack-id: {request.ack_id} has been processed."
            connection.send_control(frames.ack(request.ack_id, ("Duplicate", message)))
        else:
            error = self._dispatch(connection, request)
            if request.ack_id is not None:
                if error is None:
                    connection.remember_ack_id(request.ack_id)
                connection.send_control(frames.ack(request.ack_id, error))
        return True

    def _dispatch(self, connection: Connection, request: frames.Request) -> tuple[str, str] | None:
        """Run a request; the ack error (name, message) or None on success."""
        if request.type == "event":
            return ("InternalServerError", NO_EVENT_HANDLER)
        group = request.group
        assert group is not None
        if request.type in ("joinGroup", "leaveGroup"):
            if not permissions.allows(connection.roles, permissions.JOIN_LEAVE, group):
                action = "join" if request.type == "joinGroup" else "leave"
                return ("Forbidden", f"The client has no permission to {action} group '{group}'.")
            if request.type == "joinGroup":
                connection.groups.add(group)
            else:
                connection.groups.discard(group)
            return None
        if not permissions.allows(connection.roles, permissions.SEND_TO_GROUP, group):
            return ("Forbidden", f"The client has no permission to send to group '{group}'.")
        assert request.payload is not None
        for member in self._registry.in_group(connection.hub, group):
            if not (request.no_echo and member is connection):
                member.send_group(group, connection.user_id, request.payload)
        return None


def _websocket(protocols: tuple[str, ...]) -> web.WebSocketResponse:
    return web.WebSocketResponse(protocols=protocols, max_msg_size=MAX_CLIENT_FRAME)


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
