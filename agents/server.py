"""Serving the agents: one Starlette app and one uvicorn server per agent, in the running loop.

`start_agents(...)` is the programmatic API (the devhost and the tests use it); `python -m
agents` wraps it. Each agent serves:

- `GET /.well-known/agent-card.json`: the A2A 1.0 card;
- `POST /a2a`: A2A JSON-RPC (1.0; plus 0.3 `message/send` when `enable_v0_3_compat`), for
  callers with a credential (agents/security.py), each message acted on once (agents/replay.py);
- `GET /health`: `{"status": "ok", "agent": <name>}`;
- `GET/POST /_faults`: fault knobs, only when `AGENT_FAULTS_ENABLED=true` (404 otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import uvicorn
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agents.base import SpecialistAgent
from agents.card import RPC_PATH, build_card
from agents.catalog import AGENT_CLASSES, AGENT_NAMES, DEFAULT_BASE_PORT
from agents.executors import executor_for
from agents.faults import FaultConfig, FaultConfigError, FaultInjector, FaultMiddleware
from agents.registration import DevTokenSource, EntraTokenSource, Registrar, TokenSource
from agents.replay import ReplayingRequestHandler
from agents.security import AuthMiddleware, InboundAuth, Verifier
from agents.settings import AgentSettings, load_settings

if TYPE_CHECKING:
    import httpx

    from agents.faults import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SHUTDOWN_GRACE_SECONDS = 5
RECENT_REQUESTS = 200
_PROPAGATOR = TraceContextTextMapPropagator()


class AgentStartError(RuntimeError):
    """An agent could not start (unknown name, or its port is taken)."""


class RequestLogMiddleware:
    """Logs each JSON-RPC request with its W3C `traceparent` and `x-correlation-id`, if any
    (also as the record's `traceparent` and `correlationId` fields), remembers them in `seen`
    (the latest RECENT_REQUESTS), and serves the request in a server span that continues the
    caller's trace (recorded when the process has an OpenTelemetry SDK; a no-op otherwise)."""

    def __init__(
        self, app: ASGIApp, *, agent_name: str, seen: deque[dict[str, str]] | None = None
    ) -> None:
        self.app = app
        self.agent_name = agent_name
        self.seen = seen if seen is not None else deque(maxlen=RECENT_REQUESTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Log, then pass the request on inside the span."""
        if scope["type"] != "http" or scope["path"] != RPC_PATH:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        traceparent = _header(headers, b"traceparent", _TRACEPARENT)
        correlation = _header(headers, b"x-correlation-id", _CORRELATION_ID)
        self.seen.append({"traceparent": traceparent, "correlationId": correlation})
        log.info(
            "%s: %s %s traceparent=%s correlation=%s",
            self.agent_name,
            scope["method"],
            scope["path"],
            traceparent,
            correlation,
            extra={"traceparent": traceparent, "correlationId": correlation},
        )
        parent = (
            _PROPAGATOR.extract({"traceparent": traceparent})
            if _TRACEPARENT.fullmatch(traceparent)
            else None
        )
        with trace.get_tracer("agents").start_as_current_span(
            f"A2A {self.agent_name}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"a2a.agent": self.agent_name},
        ):
            await self.app(scope, receive, send)


def _header(headers: dict[bytes, bytes], name: bytes, shape: re.Pattern[str]) -> str:
    # Only well-formed values are logged, so a header cannot forge log lines.
    value = headers.get(name)
    if value is None:
        return "-"
    text = value.decode("latin-1")
    return text if shape.fullmatch(text) else "(invalid)"


def build_app(
    agent: SpecialistAgent,
    base_url: str,
    *,
    injector: FaultInjector,
    faults_enabled: bool,
    enable_v0_3_compat: bool,
    auth: InboundAuth,
    seen: deque[dict[str, str]] | None = None,
) -> tuple[Starlette, ReplayingRequestHandler]:
    """The agent's ASGI app and its request handler (to close on shutdown); `seen` collects
    the trace headers of the JSON-RPC requests (RequestLogMiddleware)."""
    card = build_card(agent, base_url, enable_v0_3_compat=enable_v0_3_compat, auth=auth)
    # The task store keeps tasks per caller (the a2a-sdk's ServerCallContext user, set by
    # AuthMiddleware): only the caller that started a task can see or continue it.
    handler = ReplayingRequestHandler(
        agent_executor=executor_for(agent), task_store=InMemoryTaskStore(), agent_card=card
    )

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "agent": agent.name})

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(injector.config.to_json())
        try:
            config = FaultConfig.from_json(await request.json())
        except ValueError as exc:
            # FaultConfigError is a ValueError; so is a body that is not JSON.
            message = str(exc) if isinstance(exc, FaultConfigError) else "body is not JSON"
            return JSONResponse({"error": message}, status_code=400)
        injector.configure(config)
        return JSONResponse(config.to_json())

    routes = [
        *create_agent_card_routes(card),
        *create_jsonrpc_routes(handler, rpc_url=RPC_PATH, enable_v0_3_compat=enable_v0_3_compat),
        Route("/health", health, methods=["GET"]),
    ]
    if faults_enabled:
        routes.append(Route("/_faults", faults, methods=["GET", "POST"]))
    middleware = [
        Middleware(RequestLogMiddleware, agent_name=agent.name, seen=seen),
        Middleware(AuthMiddleware, verifier=Verifier(auth, agent.title), rpc_path=RPC_PATH),
        Middleware(FaultMiddleware, injector=injector, rpc_path=RPC_PATH),
    ]
    return Starlette(routes=routes, middleware=middleware), handler


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process hosting it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install no signal handlers (the devhost or `python -m agents` owns Ctrl-C)."""
        yield


@dataclass
class RunningAgent:
    """One started agent."""

    name: str
    url: str
    agent: SpecialistAgent
    faults: FaultInjector
    server: uvicorn.Server
    handler: ReplayingRequestHandler
    serve_task: asyncio.Task[None]
    registrar: Registrar | None = None
    tokens: TokenSource | None = None
    # The trace headers of its latest JSON-RPC requests: {"traceparent", "correlationId"}.
    seen: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=RECENT_REQUESTS))


@dataclass
class AgentGroup:
    """The agents started by `start_agents`; `await stop()` shuts them all down."""

    agents: dict[str, RunningAgent]
    http_client: httpx.AsyncClient | None = None
    background_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def urls(self) -> dict[str, str]:
        """Agent name -> base URL (the card is at `<url>/.well-known/agent-card.json`)."""
        return {name: running.url for name, running in self.agents.items()}

    async def stop(self) -> None:
        """Stop registration, end hanging requests, and shut every server down."""
        for task in self.background_tasks:
            task.cancel()
        await asyncio.gather(*self.background_tasks, return_exceptions=True)
        for running in self.agents.values():
            running.faults.release_hangs()
            running.server.should_exit = True
        await asyncio.gather(*(r.serve_task for r in self.agents.values()), return_exceptions=True)
        for running in self.agents.values():
            await running.handler.aclose()
            if running.tokens is not None:
                await running.tokens.close()
        if self.http_client is not None:
            await self.http_client.aclose()


async def start_agents(
    names: Iterable[str] | None = None,
    *,
    host: str = "127.0.0.1",
    base_port: int = DEFAULT_BASE_PORT,
    settings: AgentSettings | None = None,
    enable_v0_3_compat: bool = False,
) -> AgentGroup:
    """Start the named agents (default: all six) on `base_port + offset` (0: free ports)."""
    settings = load_settings() if settings is None else settings
    selected = list(AGENT_NAMES if names is None else dict.fromkeys(names))
    unknown = [name for name in selected if name not in AGENT_CLASSES]
    if unknown:
        raise AgentStartError(
            f"unknown agent(s) {', '.join(unknown)}; known: {', '.join(AGENT_NAMES)}"
        )
    sockets = _bind_all(selected, host, base_port)
    group = AgentGroup(agents={})
    try:
        for name, sock in sockets.items():
            group.agents[name] = await _serve(name, sock, host, settings, enable_v0_3_compat)
    except BaseException:
        for sock in sockets.values():
            sock.close()
        await group.stop()
        raise
    if not settings.inbound.configured:
        log.warning(
            "no caller credential is configured (AUTH_SIGNING_KEY, AGENT_ENTRA_*, AGENT_API_KEY): "
            "the agents refuse every A2A request"
        )
    if settings.registration_enabled:
        _start_registration(group, settings)
    for running in group.agents.values():
        log.info("%s listening on %s", running.name, running.url)
    return group


def _bind_all(names: list[str], host: str, base_port: int) -> dict[str, socket.socket]:
    # Binding here (not in uvicorn) turns a taken port into an exception we can report,
    # where uvicorn would call sys.exit inside the event loop.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: dict[str, socket.socket] = {}
    for name in names:
        port = base_port + AGENT_CLASSES[name].port_offset if base_port else 0
        try:
            sockets[name] = _listening_socket(host, port, family)
        except OSError as exc:
            for sock in sockets.values():
                sock.close()
            raise AgentStartError(
                f"{name}: cannot listen on {host}:{port}: {exc.strerror}"
            ) from None
    return sockets


def _listening_socket(host: str, port: int, family: socket.AddressFamily) -> socket.socket:
    # proto=IPPROTO_TCP (socket.create_server leaves it 0) makes asyncio set TCP_NODELAY on the
    # accepted connections; without it every keep-alive request waits ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


async def _serve(
    name: str, sock: socket.socket, host: str, settings: AgentSettings, enable_v0_3_compat: bool
) -> RunningAgent:
    port = sock.getsockname()[1]
    url = settings.advertised_url(name, host, port)
    agent = AGENT_CLASSES[name]()
    injector = FaultInjector(settings.faults)
    seen: deque[dict[str, str]] = deque(maxlen=RECENT_REQUESTS)
    app, handler = build_app(
        agent,
        url,
        injector=injector,
        faults_enabled=settings.faults_enabled,
        enable_v0_3_compat=enable_v0_3_compat,
        auth=settings.inbound,
        seen=seen,
    )
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    server = _EmbeddedServer(config)
    serve_task = asyncio.create_task(server.serve(sockets=[sock]), name=f"agent:{name}")
    while not server.started:
        if serve_task.done():
            serve_task.result()
            raise AgentStartError(f"{name}: the server stopped while starting")
        await asyncio.sleep(0.01)
    return RunningAgent(name, url, agent, injector, server, handler, serve_task, seen=seen)


def _start_registration(group: AgentGroup, settings: AgentSettings) -> None:
    import httpx

    group.http_client = httpx.AsyncClient(follow_redirects=False)
    for running in group.agents.values():
        if settings.auth_mode == "entra":
            tokens: TokenSource = EntraTokenSource(settings.registration_scope or "")
        else:
            tokens = DevTokenSource(group.http_client, settings.function_app_url, running.name)
        running.tokens = tokens
        running.registrar = Registrar(
            group.http_client,
            function_app_url=settings.function_app_url,
            agent_name=running.name,
            agent_url=running.url,
            tokens=tokens,
            heartbeat_seconds=settings.heartbeat_seconds,
            retry_initial_seconds=settings.retry_initial_seconds,
            retry_max_seconds=settings.retry_max_seconds,
        )
        group.background_tasks.append(
            asyncio.create_task(running.registrar.run(), name=f"register:{running.name}")
        )
