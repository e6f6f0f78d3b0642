"""Test-only fault injection on an agent's JSON-RPC endpoint: latency, failures, bad bodies, hangs.

Faults are off unless set. They come from `AGENT_FAULT_*` settings at start, and (only when
`AGENT_FAULTS_ENABLED=true`) from `POST /_faults` at run time; `GET /_faults` reads them.
The JSON body of both uses the camelCase names below; a POST replaces the whole set (omitted
fields go back to "off") and re-seeds the random generator, so a run is reproducible.

| field         | type              | effect on each `POST /a2a`                          |
|---------------|-------------------|-----------------------------------------------------|
| latencyMs     | int >= 0          | wait this long before handling                      |
| failureRate   | float 0..1        | fail this share of requests (see failureMode)       |
| failureMode   | "jsonrpc", "http" | JSON-RPC -32603 error (HTTP 200), or a bare 500     |
| failFirst     | int >= 0          | fail the first N requests after configuration       |
| malformedRate | float 0..1        | answer this share with a body that is not JSON-RPC  |
| hang          | bool              | never answer; ends when the client gives up         |
| seed          | int               | seed of the generator picking failing requests      |
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

FAILURE_MODES = ("jsonrpc", "http")
MAX_LATENCY_MS = 600_000
INJECTED_RPC_ERROR_CODE = -32603
MALFORMED_BODY = b'{"jsonrpc": "2.0", "result": {"task": '
# JSON field name -> FaultConfig attribute.
JSON_FIELDS = {
    "latencyMs": "latency_ms",
    "failureRate": "failure_rate",
    "failureMode": "failure_mode",
    "failFirst": "fail_first",
    "malformedRate": "malformed_rate",
    "hang": "hang",
    "seed": "seed",
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FaultConfigError(ValueError):
    """A fault setting is invalid; the message names the field."""


@dataclass(frozen=True)
class FaultConfig:
    """The faults to inject; the default injects none."""

    latency_ms: int = 0
    failure_rate: float = 0.0
    failure_mode: str = "jsonrpc"
    fail_first: int = 0
    malformed_rate: float = 0.0
    hang: bool = False
    seed: int = 0

    @property
    def active(self) -> bool:
        """True when any fault would be injected."""
        return bool(
            self.latency_ms
            or self.failure_rate
            or self.fail_first
            or self.malformed_rate
            or self.hang
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form served by `GET /_faults`."""
        return {json_name: getattr(self, name) for json_name, name in JSON_FIELDS.items()}

    @classmethod
    def from_json(cls, body: Any) -> FaultConfig:
        """Validate a `POST /_faults` body (a JSON object of the fields above)."""
        if not isinstance(body, Mapping):
            raise FaultConfigError("the faults body must be a JSON object")
        unknown = sorted(set(body) - set(JSON_FIELDS))
        if unknown:
            raise FaultConfigError(f"unknown fault field(s): {', '.join(unknown)}")
        config = cls(**{JSON_FIELDS[key]: value for key, value in body.items()})
        config.validate()
        return config

    def validate(self) -> None:
        """Raise FaultConfigError naming the first invalid field (by its JSON name)."""
        if not _is_int(self.latency_ms) or not 0 <= self.latency_ms <= MAX_LATENCY_MS:
            raise FaultConfigError(f"latencyMs must be an integer from 0 to {MAX_LATENCY_MS}")
        for json_name, value in (
            ("failureRate", self.failure_rate),
            ("malformedRate", self.malformed_rate),
        ):
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise FaultConfigError(f"{json_name} must be a number from 0 to 1")
        if not _is_int(self.fail_first) or self.fail_first < 0:
            raise FaultConfigError("failFirst must be a whole number >= 0")
        if self.failure_mode not in FAILURE_MODES:
            raise FaultConfigError(f"failureMode must be one of {', '.join(FAILURE_MODES)}")
        if not isinstance(self.hang, bool):
            raise FaultConfigError("hang must be true or false")
        if not _is_int(self.seed):
            raise FaultConfigError("seed must be an integer")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class FaultInjector:
    """Holds one agent's fault settings and decides, per request, which fault to inject."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._released = asyncio.Event()
        self.configure(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        """The faults in force."""
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the faults in force and re-seed the generator."""
        config.validate()
        self._config = config
        # Not security-sensitive: a seeded generator makes fault runs reproducible.
        self._rng = random.Random(config.seed)  # noqa: S311
        self._failures_left = config.fail_first
        if config.active:
            log.warning("fault injection active: %s", config.to_json())

    def draw(self) -> str | None:
        """Pick this request's fault: "failure", "malformed" or None (two draws, always)."""
        fail_roll, malformed_roll = self._rng.random(), self._rng.random()
        if self._failures_left > 0:
            self._failures_left -= 1
            return "failure"
        if fail_roll < self._config.failure_rate:
            return "failure"
        if malformed_roll < self._config.malformed_rate:
            return "malformed"
        return None

    def release_hangs(self) -> None:
        """Let every hanging request end (called when the server stops)."""
        self._released.set()

    async def wait_released(self) -> None:
        """Wait until `release_hangs` is called."""
        await self._released.wait()


class FaultMiddleware:
    """ASGI middleware applying the injector's faults to `POST <rpc_path>` only."""

    def __init__(self, app: ASGIApp, *, injector: FaultInjector, rpc_path: str) -> None:
        self.app = app
        self.injector = injector
        self.rpc_path = rpc_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Inject the configured fault, or pass the request through."""
        if scope["type"] != "http" or scope["path"] != self.rpc_path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        config = self.injector.config
        if config.hang:
            await self._hang(receive, send)
            return
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        fault = self.injector.draw()
        if fault == "failure" and config.failure_mode == "http":
            await _respond(send, 500, b'{"error": "injected failure"}')
        elif fault == "failure":
            request_id = _request_id(await _read_body(receive))
            body = {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": INJECTED_RPC_ERROR_CODE, "message": "Injected failure"},
            }
            await _respond(send, 200, json.dumps(body).encode())
        elif fault == "malformed":
            await _respond(send, 200, MALFORMED_BODY)
        else:
            await self.app(scope, receive, send)

    async def _hang(self, receive: Receive, send: Send) -> None:
        disconnected = asyncio.ensure_future(_wait_disconnect(receive))
        released = asyncio.ensure_future(self.injector.wait_released())
        done, pending = await asyncio.wait(
            {disconnected, released}, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if released in done and disconnected not in done:
            await _respond(send, 503, b'{"error": "agent stopping"}')


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _request_id(body: bytes) -> Any:
    try:
        request = json.loads(body)
    except ValueError:
        return None
    return request.get("id") if isinstance(request, dict) else None


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
