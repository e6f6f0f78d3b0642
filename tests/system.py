"""The whole local system for one test: the devhost (in process, on the shared loop), the six
sample agents with their fault knobs, the local Web PubSub service and a signing key; plus the
questions the fault suite asks of it (history, instances still running)."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import jwt
from azure.data.tables import TableServiceClient

from agents.catalog import AGENT_NAMES
from agents.registration import agent_identity
from agents.server import AgentGroup, start_agents
from agents.settings import load_settings as load_agent_settings
from devhost.durable.engine import TERMINAL
from devhost.pubsub import PubSubService
from tests.agents.identities import IDENTITIES
from tests.conftest import remember_secret
from tests.waiting import wait_until
from voicea2a.auth import key_id

ROOT = Path(__file__).resolve().parents[1]
ACCESS_KEY = "faults-suite-access-key-0123456789abcdefghijklmn"
AGENT_COUNT = 6

# The settings every system here starts with (tests add or override).
BASE_SETTINGS = {
    "AUTH_DEV_LOGIN_ENABLED": "true",
    "AGENT_URL_ALLOWLIST": "127.0.0.1",
    # The sample agents register as agent-<name> (agents/registration.py): admitted at once.
    "AGENT_ADMISSION_ALLOWLIST": ",".join(map(agent_identity, AGENT_NAMES)),
    "RATE_LIMIT_VOICE_TOKEN_PER_MINUTE": "1000",
    "AGENT_TIMEOUT_SECONDS": "3",
    "AGENT_RETRY_FIRST_SECONDS": "0.2",
    "AGENT_RETRY_MAX_SECONDS": "0.4",
    "APPROVAL_TIMEOUT_MINUTES": "1",
    "VOICE_SYNC_WAIT_SECONDS": "8",
    "PLAYBOOK": "contoso",
}


def app_token(key: str, user: str = "ada", roles: tuple[str, ...] = ("user",)) -> str:
    """A 15-minute app token (HS256, the dev sign-in's kind) signed with `key`."""
    now = int(time.time())
    claims = {
        "iss": "voicea2a",
        "aud": "voicea2a-api",
        "sub": user,
        "roles": list(roles),
        "iat": now,
        "exp": now + 900,
    }
    token = jwt.encode(claims, key, algorithm="HS256", headers={"kid": key_id(key)})
    return remember_secret(token)


def bearer(key: str, user: str = "ada", roles: tuple[str, ...] = ("user",)) -> dict[str, str]:
    """The Authorization header with an app token for `user` (see app_token)."""
    return {"Authorization": f"Bearer {app_token(key, user, roles)}"}


@dataclass
class LocalSystem:
    """A started system; `app` is the RunningHost of tests/conftest.py."""

    app: Any
    agents: AgentGroup | None
    pubsub: PubSubService | None
    key: str
    loop: Any
    settings: dict[str, str]  # the app settings it was started with

    @property
    def connection_string(self) -> str:
        """The local Web PubSub service's connection string, as the app has it."""
        return self.settings["WEBPUBSUB_CONNECTION_STRING"]

    def headers(self, user: str = "ada", roles: tuple[str, ...] = ("user",)) -> dict[str, str]:
        return bearer(self.key, user, roles)

    def body(self, customer_id: str | None, symptoms: list[str], **extra: Any) -> dict:
        body = {
            "request": "My internet is not working well.",
            "symptoms": symptoms,
            "callId": "call-" + secrets.token_hex(4),
            **extra,
        }
        if customer_id:
            first, last, postal, born = IDENTITIES[customer_id]
            body["customer"] = {
                "firstName": first,
                "lastName": last,
                "postalCode": postal,
                "dateOfBirth": born,
            }
        return body

    def ask(
        self, customer_id: str | None, symptoms: list[str], user: str = "ada", **extra: Any
    ) -> httpx.Response:
        body = self.body(customer_id, symptoms, **extra)
        return self.app.http.post("/api/messages", json=body, headers=self.headers(user))

    def faults(self, agent: str, **faults: Any) -> None:
        response = httpx.post(f"{self.agents.urls[agent]}/_faults", json=faults, timeout=10)
        assert response.status_code == 200, response.text

    def status(self, instance_id: str, user: str = "ada") -> httpx.Response:
        return self.app.http.get(f"/api/messages/{instance_id}", headers=self.headers(user))

    def wait_status(
        self,
        instance_id: str,
        reached: Callable[[dict], bool],
        what: str,
        user: str = "ada",
        timeout: float = 15,
    ) -> dict:
        """The status route's body for `instance_id` once `reached(body)` holds."""

        def read() -> dict | None:
            response = self.status(instance_id, user)
            assert response.status_code == 200, response.text
            body = response.json()
            return body if reached(body) else None

        return wait_until(
            read, timeout, what=lambda: f"{what}: {self.status(instance_id, user).text}"
        )

    def wait_done(self, instance_id: str, user: str = "ada", timeout: float = 30) -> dict:
        return self.wait_status(
            instance_id, lambda body: body["status"] != "running", "finished", user, timeout
        )

    def history(self, conversation_id: str, user: str = "ada") -> list[dict]:
        response = self.app.http.get(
            f"/api/conversations/{conversation_id}", headers=self.headers(user)
        )
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def wait_history(
        self, conversation_id: str, instance_id: str, user: str = "ada", timeout: float = 10
    ) -> list[dict]:
        """The turn's messages once its answer is recorded (record_turn runs after the answer
        is composed, so it may land a moment after the status says completed)."""

        def answered() -> list[dict] | None:
            history = self.history(conversation_id, user)
            turn = [m for m in history if m["instanceId"] == instance_id]
            return turn if any(m["role"] == "assistant" for m in turn) else None

        return wait_until(answered, timeout, what=f"the answer of {instance_id} in the history")

    def instance_statuses(self) -> dict[str, str]:
        """Every orchestration instance the devhost engine holds, with its runtime status."""

        async def read() -> dict[str, str]:
            return {i: inst.status for i, inst in self.app.engine.instances.items()}

        return self.loop.run(read())

    def running_instances(self) -> dict[str, str]:
        return {i: s for i, s in self.instance_statuses().items() if s not in TERMINAL}

    def stuck_instances(self, timeout: float = 15) -> dict[str, str]:
        """Instances still not finished after `timeout` (none expected): the caller asserts
        on what is left, so its failure names them."""
        with contextlib.suppress(AssertionError):
            wait_until(lambda: not self.running_instances(), timeout)
        return self.running_instances()

    def probe_agents(self) -> None:
        """Run the health job now (the devhost's admin API, as the Functions host offers)."""
        fired = self.app.http.post("/admin/functions/agent_health")
        assert fired.status_code == 202, fired.text

    def wait_agents(self, count: int = AGENT_COUNT, timeout: float = 20) -> list[dict]:
        def registered() -> list[dict] | None:
            agents = self.app.http.get("/api/agents", headers=self.headers()).json()["agents"]
            return agents if len(agents) >= count else None

        return wait_until(registered, timeout, what=f"{count} agents registered")


def assert_turn_complete(turn: list[dict], answer: dict) -> None:
    """One user message, one message per agent outcome, then the answer as returned."""
    roles = [m["role"] for m in turn]
    assert roles[0] == "user" and roles[-1] == "assistant", roles
    assert set(roles[1:-1]) <= {"agent"}, roles
    final = turn[-1]
    assert final["text"] == answer["answer"]
    assert final["partial"] == answer["partial"]
    assert final["agents"] == answer["agents"]


def error_of(response: httpx.Response) -> dict:
    """The error object of a response, after checking it has the one error body."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    keys = set(error)
    assert (
        {"code", "message", "retryable"} <= keys <= {"code", "message", "retryable", "retryAfter"}
    )
    assert "Traceback" not in error["message"]
    return error


def start_system(
    start_host: Callable[..., Any],
    loop_thread: Any,
    apply_env: Callable[..., Any],
    storage_connection_string: str,
    *,
    settings: dict[str, str] | None = None,
    with_agents: bool = True,
    with_pubsub: bool = True,
    heartbeat_seconds: float = 30,
    agent_settings: dict[str, Any] | None = None,
    host_options: dict[str, Any] | None = None,
    system_class: type[LocalSystem] = LocalSystem,
) -> LocalSystem:
    """Start the system on `storage_connection_string`; stop it with `stop_system`.
    `host_options` go to start_host (e.g. web_root); `system_class` may extend LocalSystem."""
    pubsub = None
    values = {**BASE_SETTINGS, **(settings or {})}
    remember_secret(ACCESS_KEY)  # no log line may show it
    if with_pubsub:
        pubsub = PubSubService(ACCESS_KEY, endpoint="http://127.0.0.1")
        port = loop_thread.run(pubsub.start(port=0))
        values.setdefault(
            "WEBPUBSUB_CONNECTION_STRING",
            f"Endpoint=http://127.0.0.1:{port};AccessKey={ACCESS_KEY};",
        )
    key = values.setdefault(
        "AUTH_SIGNING_KEY", remember_secret("faults-signing-key-" + secrets.token_hex(24))
    )
    apply_env(**values)
    # A registry left by an earlier test would list agents that are not running.
    TableServiceClient.from_connection_string(storage_connection_string).delete_table("agents")
    app = start_host(ROOT, run_timers=False, **(host_options or {}))
    agents = None
    if with_agents:
        configured = replace(
            # The agents accept the app's tokens: signed with its key (agents/security.py).
            load_agent_settings({"AGENT_FAULTS_ENABLED": "true", "AUTH_SIGNING_KEY": key}),
            function_app_url=app.host.base_url,
            heartbeat_seconds=heartbeat_seconds,
            **(agent_settings or {}),
        )
        agents = loop_thread.run(start_agents(base_port=0, settings=configured))
    system = system_class(app, agents, pubsub, key, loop_thread, values)
    if with_agents:
        system.wait_agents()
    return system


def stop_system(system: LocalSystem) -> None:
    if system.agents is not None:
        system.loop.run(system.agents.stop())
    if system.pubsub is not None:
        system.loop.run(system.pubsub.stop())


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1)[:3000]
