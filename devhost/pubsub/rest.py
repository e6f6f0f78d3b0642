"""The data-plane REST API that `WebPubSubServiceClient` (api-version 2024-12-01) calls."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from devhost.pubsub import permissions
from devhost.pubsub.frames import Payload
from devhost.pubsub.hubs import valid_group, valid_hub
from devhost.pubsub.state import Connection, Registry
from devhost.pubsub.tokens import TokenError, client_audience, issue_client_token, verify_rest_token

log = logging.getLogger("devhost.pubsub")

API_VERSION = "2024-12-01"
CLOSED_BY_API = "Closed by REST API."
MAX_PAGE_SIZE = 200
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error answer: HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def _hub(request: web.Request) -> str:
    hub = request.match_info["hub"]
    if not valid_hub(hub):
        raise ApiError(400, "InvalidHub", "Invalid hub name.")
    return hub.lower()


def _group(request: web.Request) -> str:
    group = request.match_info["group"]
    if not valid_group(group):
        raise ApiError(400, "InvalidGroup", "Group names have 1 to 1024 characters.")
    return group


def _excluded(request: web.Request) -> set[str]:
    return set(request.query.getall("excluded", []))


def _reason(request: web.Request) -> str:
    return request.query.get("reason") or CLOSED_BY_API


def _check_send_options(request: web.Request) -> None:
    if request.query.get("filter"):
        raise ApiError(400, "InvalidFilter", "OData filters are not supported here.")
    ttl = request.query.get("messageTtlSeconds")
    if ttl is not None and not (ttl.isdigit() and 0 <= int(ttl) <= 300):
        raise ApiError(400, "InvalidMessageTtl", "messageTtlSeconds must be within 0..300.")


async def _payload(request: web.Request) -> Payload:
    body = await request.read()
    content_type = request.content_type
    if content_type == "application/json":
        try:
            json.loads(body)
        except ValueError as error:
            raise ApiError(400, "InvalidJson", "The body is not valid JSON.") from error
        return Payload("json", body)
    if content_type == "text/plain":
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiError(400, "InvalidText", "The text body is not UTF-8.") from error
        return Payload("text", body)
    if content_type == "application/octet-stream":
        return Payload("binary", body)
    raise ApiError(
        415,
        "UnsupportedContentType",
        "Use application/json, text/plain or application/octet-stream.",
    )


def _exists(found: bool) -> web.Response:
    return web.Response(status=200 if found else 404)


class RestApi:
    """Handlers for `/api/hubs/{hub}/...`; each call must carry a JWT signed with the access key."""

    def __init__(self, registry: Registry, access_key: str) -> None:
        self._registry = registry
        self._key = access_key

    def routes(self) -> list[web.RouteDef]:
        """Every REST route, authenticated (each GET route also answers HEAD)."""
        hub = "/api/hubs/{hub}"
        connection = f"{hub}/connections/{{connectionId}}"
        group = f"{hub}/groups/{{group}}"
        user = f"{hub}/users/{{userId}}"
        permission = f"{hub}/permissions/{{permission}}/connections/{{connectionId}}"
        table: list[tuple[str, str, Handler]] = [
            ("POST", f"{hub}/:send", self.send_to_all),
            ("POST", f"{hub}/:closeConnections", self.close_all),
            ("POST", f"{hub}/:generateToken", self.generate_token),
            ("GET", connection, self.connection_exists),
            ("DELETE", connection, self.close_connection),
            ("POST", f"{connection}/:send", self.send_to_connection),
            ("DELETE", f"{connection}/groups", self.remove_connection_from_all_groups),
            ("GET", group, self.group_exists),
            ("POST", f"{group}/:send", self.send_to_group),
            ("POST", f"{group}/:closeConnections", self.close_group),
            ("GET", f"{group}/connections", self.list_group_connections),
            ("PUT", f"{group}/connections/{{connectionId}}", self.add_connection_to_group),
            ("DELETE", f"{group}/connections/{{connectionId}}", self.remove_connection_from_group),
            ("GET", user, self.user_exists),
            ("POST", f"{user}/:send", self.send_to_user),
            ("POST", f"{user}/:closeConnections", self.close_user),
            ("DELETE", f"{user}/groups", self.remove_user_from_all_groups),
            ("PUT", f"{user}/groups/{{group}}", self.add_user_to_group),
            ("DELETE", f"{user}/groups/{{group}}", self.remove_user_from_group),
            ("PUT", permission, self.grant_permission),
            ("DELETE", permission, self.revoke_permission),
            ("GET", permission, self.check_permission),
        ]
        return [web.route(method, path, self._guard(handler)) for method, path, handler in table]

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self._authenticated(request):
                return _error(401, "Unauthorized", "A valid access-key token is required.")
            try:
                return await handler(request)
            except ApiError as error:
                return _error(error.status, error.code, str(error))

        return guarded

    def _authenticated(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        try:
            verify_rest_token(token.strip(), self._key, url)
        except TokenError:
            return False
        return True

    def _connection(self, request: web.Request) -> Connection | None:
        return self._registry.get(_hub(request), request.match_info["connectionId"])

    # Sends: 202, fire-and-forget (a missing connection is 404, as in the official emulator).

    async def send_to_all(self, request: web.Request) -> web.StreamResponse:
        """POST /api/hubs/{hub}/:send"""
        hub = _hub(request)
        _check_send_options(request)
        payload, excluded = await _payload(request), _excluded(request)
        for connection in self._registry.in_hub(hub):
            if connection.id not in excluded:
                connection.send_server(payload)
        return web.Response(status=202)

    async def send_to_user(self, request: web.Request) -> web.StreamResponse:
        """POST /api/hubs/{hub}/users/{userId}/:send"""
        hub = _hub(request)
        _check_send_options(request)
        payload = await _payload(request)
        for connection in self._registry.of_user(hub, request.match_info["userId"]):
            connection.send_server(payload)
        return web.Response(status=202)

    async def send_to_group(self, request: web.Request) -> web.StreamResponse:
        """POST /api/hubs/{hub}/groups/{group}/:send"""
        hub, group = _hub(request), _group(request)
        _check_send_options(request)
        payload, excluded = await _payload(request), _excluded(request)
        for connection in self._registry.in_group(hub, group):
            if connection.id not in excluded:
                connection.send_group(group, None, payload)
        return web.Response(status=202)

    async def send_to_connection(self, request: web.Request) -> web.StreamResponse:
        """POST /api/hubs/{hub}/connections/{connectionId}/:send"""
        _check_send_options(request)
        payload = await _payload(request)
        connection = self._connection(request)
        if connection is None:
            raise ApiError(404, "NotFound", "No such connection.")
        connection.send_server(payload)
        return web.Response(status=202)

    # Closing: 204.

    async def close_connection(self, request: web.Request) -> web.StreamResponse:
        """DELETE /api/hubs/{hub}/connections/{connectionId}"""
        connection = self._connection(request)
        if connection is not None:
            connection.close(_reason(request))
        return web.Response(status=204)

    async def close_all(self, request: web.Request) -> web.StreamResponse:
        """POST /api/hubs/{hub}/:closeConnections"""
        self._close(self._registry.in_hub(_hub(request)), request)
        return web.Response(status=204)

    async def close_user(self, request: web.Request) -> web.StreamResponse:
        """POST /api/hubs/{hub}/users/{userId}/:closeConnections"""
        self._close(self._registry.of_user(_hub(request), request.match_info["userId"]), request)
        return web.Response(status=204)

    async def close_group(self, request: web.Request) -> web.StreamResponse:
        """POST /api/hubs/{hub}/groups/{group}/:closeConnections"""
        self._close(self._registry.in_group(_hub(request), _group(request)), request)
        return web.Response(status=204)

    def _close(self, connections: list[Connection], request: web.Request) -> None:
        excluded, reason = _excluded(request), _reason(request)
        for connection in connections:
            if connection.id not in excluded:
                connection.close(reason)

    # Existence: 200 or 404.

    async def connection_exists(self, request: web.Request) -> web.StreamResponse:
        """HEAD /api/hubs/{hub}/connections/{connectionId}"""
        return _exists(self._connection(request) is not None)

    async def user_exists(self, request: web.Request) -> web.StreamResponse:
        """HEAD /api/hubs/{hub}/users/{userId}"""
        return _exists(bool(self._registry.of_user(_hub(request), request.match_info["userId"])))

    async def group_exists(self, request: web.Request) -> web.StreamResponse:
        """HEAD /api/hubs/{hub}/groups/{group}"""
        return _exists(bool(self._registry.in_group(_hub(request), _group(request))))

    # Group membership.

    async def add_connection_to_group(self, request: web.Request) -> web.StreamResponse:
        """PUT /api/hubs/{hub}/groups/{group}/connections/{connectionId} (200, 404)"""
        group, connection = _group(request), self._connection(request)
        if connection is None:
            raise ApiError(404, "NotFound", "No such connection.")
        connection.groups.add(group)
        return web.Response(status=200)

    async def remove_connection_from_group(self, request: web.Request) -> web.StreamResponse:
        """DELETE /api/hubs/{hub}/groups/{group}/connections/{connectionId} (204, 404)"""
        group, connection = _group(request), self._connection(request)
        if connection is None:
            raise ApiError(404, "NotFound", "No such connection.")
        connection.groups.discard(group)
        return web.Response(status=204)

    async def remove_connection_from_all_groups(self, request: web.Request) -> web.StreamResponse:
        """DELETE /api/hubs/{hub}/connections/{connectionId}/groups (204)"""
        connection = self._connection(request)
        if connection is not None:
            connection.groups.clear()
        return web.Response(status=204)

    async def add_user_to_group(self, request: web.Request) -> web.StreamResponse:
        """PUT /api/hubs/{hub}/users/{userId}/groups/{group} (200; 404 when the user has no
        connection, as in the official emulator)"""
        hub, group = _hub(request), _group(request)
        connections = self._registry.of_user(hub, request.match_info["userId"])
        for connection in connections:
            connection.groups.add(group)
        if not connections:
            raise ApiError(404, "NotFound", "The user has no connection.")
        return web.Response(status=200)

    async def remove_user_from_group(self, request: web.Request) -> web.StreamResponse:
        """DELETE /api/hubs/{hub}/users/{userId}/groups/{group} (204)"""
        hub, group = _hub(request), _group(request)
        for connection in self._registry.of_user(hub, request.match_info["userId"]):
            connection.groups.discard(group)
        return web.Response(status=204)

    async def remove_user_from_all_groups(self, request: web.Request) -> web.StreamResponse:
        """DELETE /api/hubs/{hub}/users/{userId}/groups (204)"""
        for connection in self._registry.of_user(_hub(request), request.match_info["userId"]):
            connection.groups.clear()
        return web.Response(status=204)

    async def list_group_connections(self, request: web.Request) -> web.StreamResponse:
        """GET /api/hubs/{hub}/groups/{group}/connections (paged by connection id)"""
        hub, group = _hub(request), _group(request)
        page_size = _positive(request, "maxpagesize", MAX_PAGE_SIZE) or MAX_PAGE_SIZE
        if page_size > MAX_PAGE_SIZE:
            raise ApiError(400, "InvalidParameter", f"maxpagesize is at most {MAX_PAGE_SIZE}.")
        top = _positive(request, "top", None)
        after = request.query.get("continuationToken", "")
        members = sorted(
            (c for c in self._registry.in_group(hub, group) if c.id > after), key=lambda c: c.id
        )
        limit = min(page_size, top) if top is not None else page_size
        page = members[:limit]
        body: dict[str, object] = {
            "value": [{"connectionId": c.id, "userId": c.user_id} for c in page]
        }
        if len(members) > limit and (top is None or top > limit):
            query = {
                "maxpagesize": str(page_size),
                "continuationToken": page[-1].id,
                "api-version": API_VERSION,
            }
            if top is not None:
                query["top"] = str(top - limit)
            body["nextLink"] = str(request.url.with_query(query))
        return web.json_response(body)

    # Permissions (granted to one connection at run time).

    def _permission(self, request: web.Request) -> tuple[Connection | None, str, str | None]:
        permission = request.match_info["permission"]
        if permission not in permissions.PERMISSIONS:
            raise ApiError(400, "InvalidPermission", "Use sendToGroup or joinLeaveGroup.")
        return self._connection(request), permission, request.query.get("targetName") or None

    async def grant_permission(self, request: web.Request) -> web.StreamResponse:
        """PUT /api/hubs/{hub}/permissions/{permission}/connections/{connectionId}"""
        connection, permission, target = self._permission(request)
        if connection is None:
            raise ApiError(404, "NotFound", "No such connection.")
        connection.roles.add(permissions.role_for(permission, target))
        return web.Response(status=200)

    async def revoke_permission(self, request: web.Request) -> web.StreamResponse:
        """DELETE /api/hubs/{hub}/permissions/{permission}/connections/{connectionId}"""
        connection, permission, target = self._permission(request)
        if connection is not None:
            connection.roles.discard(permissions.role_for(permission, target))
        return web.Response(status=204)

    async def check_permission(self, request: web.Request) -> web.StreamResponse:
        """HEAD /api/hubs/{hub}/permissions/{permission}/connections/{connectionId}"""
        connection, permission, target = self._permission(request)
        if connection is None:
            return _exists(False)
        if target is None:
            return _exists(permissions.role_for(permission, None) in connection.roles)
        return _exists(permissions.allows(connection.roles, permission, target))

    async def generate_token(self, request: web.Request) -> web.StreamResponse:
        """POST /api/hubs/{hub}/:generateToken -> {"token": ...}"""
        hub = request.match_info["hub"]
        _hub(request)
        client_type = request.query.get("clientType", "Default")
        if client_type.lower() != "default":
            raise ApiError(400, "UnsupportedClientType", "Only the Default client type exists.")
        minutes = _positive(request, "minutesToExpire", 60) or 60
        audience = client_audience(f"{request.scheme}://{request.host}", hub)
        token = issue_client_token(
            self._key,
            audience,
            user_id=request.query.get("userId") or None,
            roles=request.query.getall("role", []),
            groups=request.query.getall("group", []),
            minutes_to_expire=minutes,
        )
        return web.json_response({"token": token})


def _positive(request: web.Request, name: str, default: int | None) -> int | None:
    value = request.query.get(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ApiError(400, "InvalidParameter", f"{name} must be a positive integer.")
    return int(value)
