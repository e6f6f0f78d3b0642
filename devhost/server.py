"""The HTTP side of the devhost: function routes, CORS, the admin API and the static web client."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import azure.functions as func
from aiohttp import web

from devhost.functions import FunctionIndex, FunctionInfo, FunctionRunner, HttpResult
from devhost.routing import MethodNotAllowed, RouteNotFound, Router

log = logging.getLogger("devhost")


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The project's error body, for what the host itself answers (unknown route, wrong method)."""
    body = {"error": {"code": code, "message": message, "retryable": False}}
    return web.json_response(body, status=status, headers=headers)


def build_router(index: FunctionIndex) -> Router[FunctionInfo]:
    """A router over every HTTP-triggered function (default route: the function name)."""
    router: Router[FunctionInfo] = Router()
    for info in index.http:
        methods = [getattr(m, "value", m) for m in (info.trigger.methods or [])] or None
        router.add(info.trigger.route or info.name, methods, info)
    return router


def to_http_request(
    request: web.Request, body: bytes, route_params: dict[str, str]
) -> func.HttpRequest:
    """A real `func.HttpRequest`, as the worker builds it."""
    headers = dict(request.headers)
    # Azure's front end appends the address it saw; functions read the client IP from here.
    forwarded = headers.get("X-Forwarded-For")
    peer = request.remote or ""
    headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=dict(request.query),
        route_params=route_params,
        body=body,
    )


def to_web_response(result: HttpResult) -> web.StreamResponse:
    """The response the host builds from the worker's data: status, headers and body as sent."""
    response = web.Response(status=result.status, body=result.body)
    for name, value in result.headers:
        response.headers.add(name, value)
    return response


class CorsPolicy:
    """The `Host.CORS` setting of local.settings.json."""

    def __init__(self, origins: tuple[str, ...], credentials: bool) -> None:
        self.origins = origins
        self.credentials = credentials

    def allowed_origin(self, origin: str | None) -> str | None:
        """The value for Access-Control-Allow-Origin, or None when the origin is not allowed."""
        if not origin:
            return None
        if "*" in self.origins and not self.credentials:
            return "*"
        return origin if origin in self.origins else None

    def headers(self, origin: str | None) -> dict[str, str]:
        """The CORS headers for a response to `origin`."""
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return {}
        headers = {"Access-Control-Allow-Origin": allowed, "Vary": "Origin"}
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers


class FunctionsHandler:
    """Serves every HTTP trigger under the route prefix."""

    def __init__(
        self,
        index: FunctionIndex,
        invoker: FunctionRunner,
        cors: CorsPolicy,
        client_binding: Callable[[], str],
    ) -> None:
        self.router = build_router(index)
        self.invoker = invoker
        self.cors = cors
        self.client_binding = client_binding
        self.prefix = f"/{index.route_prefix}" if index.route_prefix else ""

    def route_path(self, path: str) -> str | None:
        """The part of a request path after the route prefix, or None when outside it."""
        if not self.prefix:
            return path
        if path == self.prefix or path.startswith(self.prefix + "/"):
            return path[len(self.prefix) :]
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Route, build the HttpRequest, invoke the function and return its response."""
        # Routes match the path as sent (the router decodes each value): like ASP.NET Core, an
        # encoded slash (%2F) stays inside one segment instead of splitting it.
        path = self.route_path(request.raw_path.split("?", 1)[0]) or "/"
        origin = request.headers.get("Origin")
        if (
            request.method == "OPTIONS"
            and origin
            and "Access-Control-Request-Method" in request.headers
        ):
            return self._preflight(request, origin)
        try:
            info, route_params = self.router.resolve(request.method, path)
        except RouteNotFound:
            return error_response(
                404,
                "not_found",
                f"No route matches {request.method} {request.path}.",
                self.cors.headers(origin),
            )
        except MethodNotAllowed as exc:
            headers = {"Allow": ", ".join(exc.allowed), **self.cors.headers(origin)}
            return error_response(
                405,
                "invalid_request",
                f"{request.method} is not allowed here; use {', '.join(exc.allowed)}.",
                headers,
            )
        body = await request.read()
        http_request = to_http_request(request, body, route_params)
        try:
            with self.invoker.occupancy.running("http", info.name):
                result = await self.invoker.call_http(info, http_request, self.client_binding())
            response = to_web_response(result)
        except Exception:  # the host answers 500 with no body; the details go to the console only
            log.exception("function %s failed", info.name)
            response = web.Response(status=500)
        for name, value in self.cors.headers(origin).items():
            response.headers[name] = value
        return response

    def _preflight(self, request: web.Request, origin: str) -> web.Response:
        headers = self.cors.headers(origin)
        if not headers:
            return web.Response(status=403)
        # The host's CORS policy allows any method and any header to an allowed origin
        # (AllowAnyMethod, AllowAnyHeader): it grants what the preflight asks for.
        headers["Access-Control-Allow-Methods"] = request.headers["Access-Control-Request-Method"]
        asked_headers = request.headers.get("Access-Control-Request-Headers")
        if asked_headers:
            headers["Access-Control-Allow-Headers"] = asked_headers
        headers["Access-Control-Max-Age"] = "600"
        return web.Response(status=204, headers=headers)


def static_handler(web_root: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Serve the browser client's files, `index.html` for `/`."""
    root = web_root.resolve()

    async def handle(request: web.Request) -> web.StreamResponse:
        relative = request.path.lstrip("/") or "index.html"
        target = (root / relative).resolve()
        if root not in target.parents and target != root:
            return error_response(404, "not_found", "Not found.")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return error_response(404, "not_found", "Not found.")
        return web.FileResponse(target, headers={"Cache-Control": "no-cache"})

    return handle


@web.middleware
async def access_log(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """One line per request: method, path, status and time (no query string: it may hold tokens)."""
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPRequestEntityTooLarge:
        response = error_response(413, "invalid_request", "The request body is too large.")
    except web.HTTPException as exc:
        response = error_response(
            exc.status, "not_found" if exc.status == 404 else "invalid_request", exc.reason
        )
    elapsed = (time.perf_counter() - started) * 1000
    if not request.path.startswith(("/durabletask/", "/runtime/")):
        log.info(
            "%s %s %d %.1fms",
            request.method,
            urlsplit(str(request.url)).path,
            response.status,
            elapsed,
        )
    return response


def admin_handler(
    index: FunctionIndex, invoker: FunctionRunner, client_binding: Callable[[], str]
) -> Callable:
    """`POST /admin/functions/{name}`: run a non-HTTP trigger now, as the Functions host offers."""

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        info = index.by_name.get(name)
        if info is None or info.trigger_type == "httpTrigger":
            return error_response(404, "not_found", f"No non-HTTP function named '{name}'.")
        if info.trigger_type != "timerTrigger":
            return error_response(
                400, "invalid_request", f"'{name}' is a {info.trigger_type} function."
            )
        try:
            with invoker.occupancy.running("timer", info.name):
                await invoker.call_timer(info, client_binding())
        except Exception:
            log.exception("function %s failed", name)
            return web.json_response({"function": name, "status": "failed"}, status=500)
        return web.json_response({"function": name, "status": "completed"}, status=202)

    return handle


def describe_routes(index: FunctionIndex) -> list[str]:
    """Human-readable lines for the start-up banner."""
    lines = []
    for info in index.http:
        methods = ",".join(getattr(m, "value", m) for m in (info.trigger.methods or [])) or "ALL"
        lines.append(
            f"  {info.name}: [{methods}] /{index.route_prefix}/{info.trigger.route or info.name}"
        )
    return lines
