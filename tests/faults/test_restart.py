"""The devhost killed (SIGKILL) in the middle of turns, and started again on the same data.

The devhost runs as its own process here (`python -m devhost`, as `scripts/run.sh` starts it),
against the session Azurite, with the sample agents (slowed down with their fault knobs) and the
local Web PubSub service running in the test, so it can be killed and started again on the same
port. Its Durable engine keeps every instance in Azurite (DEVHOST_DURABLE_STORE=azurite, the
default), so a restart resumes them as Azure's backend would: the turns under way finish and are
recorded once, without the caller posting them again; the instance waiting for a supervisor
still waits, and the approval given after the restart completes it.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from azure.data.tables import TableServiceClient

from agents.catalog import AGENT_NAMES
from agents.server import start_agents
from agents.settings import load_settings as load_agent_settings
from devhost.pubsub import PubSubService
from tests.conftest import durable_store_env, free_port, remember_secret
from tests.system import (
    ACCESS_KEY,
    BASE_SETTINGS,
    ROOT,
    LocalSystem,
)
from tests.waiting import get_or_none, wait_until

pytestmark = pytest.mark.azurite

SLOW_AGENT_MS = 1500  # under AGENT_TIMEOUT_SECONDS (3): slow, never timed out


class DevhostProcess:
    """`python -m devhost` on a fixed port, started and killed at will; its host key
    (DEVHOST_HOST_KEY) and task hub stay the same across restarts."""

    def __init__(self, port: int, log: Path, env: dict[str, str]) -> None:
        self.port = port
        self.log = log
        self.key = remember_secret("restart-host-key-" + secrets.token_urlsafe(24))
        self.env = {**env, "DEVHOST_HOST_KEY": self.key}
        self.base_url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        command = [
            *(sys.executable, "-m", "devhost", "--script-root", str(ROOT)),
            *("--port", str(self.port), "--no-azurite", "--no-agents", "--no-pubsub"),
            "--no-timers",
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
                command,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            response = get_or_none(f"{self.base_url}/api/health", timeout=2)
            return response is not None and response.status_code == 200

        wait_until(
            up,
            timeout,
            what=lambda: f"the devhost to answer\n{self.log.read_text()[-3000:]}",
            interval=0.2,
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None


class RemoteHost:
    """The RunningHost interface LocalSystem needs, over HTTP only."""

    def __init__(self, base_url: str, key: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, headers={"x-functions-key": key})


@pytest.fixture
def killable(azurite_env, azurite, loop_thread, tmp_path):
    pubsub = PubSubService(ACCESS_KEY, endpoint="http://127.0.0.1")
    pubsub_port = loop_thread.run(pubsub.start(port=0))
    key = remember_secret("restart-signing-key-0123456789abcdef0123456789")
    settings = {
        **BASE_SETTINGS,
        "AUTH_SIGNING_KEY": key,
        "WEBPUBSUB_CONNECTION_STRING": (
            f"Endpoint=http://127.0.0.1:{pubsub_port};AccessKey={ACCESS_KEY};"
        ),
        "VOICE_SYNC_WAIT_SECONDS": "0.5",
        "APPROVAL_TIMEOUT_MINUTES": "10",
    }
    azurite_env(**settings)
    TableServiceClient.from_connection_string(azurite.connection_string).delete_table("agents")
    devhost = DevhostProcess(free_port(), tmp_path / "devhost.log", durable_store_env(azurite))
    devhost.start()
    agent_settings = replace(
        # The agents accept the app's tokens: signed with its key (agents/security.py).
        load_agent_settings({"AGENT_FAULTS_ENABLED": "true", "AUTH_SIGNING_KEY": key}),
        function_app_url=devhost.base_url,
        heartbeat_seconds=2,
    )
    agents = loop_thread.run(start_agents(base_port=0, settings=agent_settings))
    host = RemoteHost(devhost.base_url, devhost.key)
    system = LocalSystem(host, agents, pubsub, key, loop_thread, settings)
    system.wait_agents()
    yield system, devhost
    devhost.kill()
    host.http.close()
    loop_thread.run(agents.stop())
    loop_thread.run(pubsub.stop())


def posted(system, body: dict) -> str:
    response = system.app.http.post("/api/messages", json=body, headers=system.headers())
    assert response.status_code in (200, 202), response.text
    return response.json()["instanceId"]


def awaiting_approval(status: dict) -> bool:
    return status["progress"].get("stage") == "awaiting-approval"


def under_way(status: dict) -> bool:
    return status["status"] == "running" and bool(status["progress"])


def recorded_once(
    system, conversation_id: str, instance_id: str, answer: str, follow_ups: int = 0
) -> None:
    turn = system.wait_history(conversation_id, instance_id)
    roles = [m["role"] for m in turn]
    assert roles.count("user") == 1 and roles.count("assistant") == 1 + follow_ups, roles
    assert roles[0] == "user" and turn[-1]["text"] == answer
    ids = [m["id"] for m in system.history(conversation_id)]
    assert len(ids) == len(set(ids)), ids


def test_turns_under_way_and_an_approval_survive_a_killed_devhost(killable):
    system, devhost = killable
    supervisor = system.headers("sam", ("supervisor",))

    # A dispatch waiting for a supervisor ...
    approval_body = system.body("CUST-0010", ["technician_visit"], conversationId="restart-appr")
    waiting = posted(system, approval_body)
    system.wait_status(waiting, awaiting_approval, "the approval asked for")

    # ... and three turns in the middle of asking slowed-down agents.
    for name in AGENT_NAMES:
        system.faults(name, latencyMs=SLOW_AGENT_MS)
    turns = {}
    asked = [
        ("CUST-0003", ["slow_internet"]),
        ("CUST-0001", ["no_internet"]),
        ("CUST-0003", ["billing_question"]),
    ]
    for number, (customer, symptoms) in enumerate(asked):
        conversation = f"restart-turn-{number}"
        turns[posted(system, system.body(customer, symptoms, conversationId=conversation))] = (
            conversation
        )
    for instance_id in turns:
        system.wait_status(instance_id, under_way, "the turn under way")

    devhost.kill()
    for name in AGENT_NAMES:
        system.faults(name)  # back to normal speed for the reruns
    devhost.start()  # the same data, no cleanup
    log = devhost.log.read_text()
    assert "4 resumed" in log and "running again: call_specialist" in log, log[-3000:]

    # Every turn finishes on its own (nobody posts it again) and is recorded once.
    for instance_id, conversation in turns.items():
        done = system.wait_done(instance_id, timeout=60)
        assert done["status"] == "completed", done
        assert system.status(instance_id).status_code == 200
        recorded_once(system, conversation, instance_id, done["answer"])

    # The approval still waits, and is given after the restart.
    assert system.status(waiting).json()["progress"]["stage"] == "awaiting-approval"
    approved = system.app.http.post(
        f"/api/approvals/{waiting}", json={"approve": True}, headers=supervisor
    )
    assert approved.status_code == 202, approved.text
    done = system.wait_done(waiting)
    [follow_up] = done["followUps"]
    assert done["status"] == "completed" and "book" in follow_up["answer"].lower(), done
    recorded_once(system, "restart-appr", waiting, follow_up["answer"], follow_ups=1)

    instances = system.app.http.get("/runtime/webhooks/durabletask/instances").json()
    assert {i["instanceId"] for i in instances} >= {waiting, *turns}
    assert all(i["runtimeStatus"] == "Completed" for i in instances), instances


def test_a_devhost_killed_twice_in_a_row_restarts_each_time(killable):
    system, devhost = killable
    body = system.body("CUST-0010", ["technician_visit"], conversationId="restart-twice")
    waiting = posted(system, body)
    system.wait_status(waiting, awaiting_approval, "the approval asked for")
    for _ in range(2):
        devhost.kill()
        devhost.start()
        # The answer went out first; the wait for the supervisor resumes (again) on its own.
        system.wait_status(waiting, awaiting_approval, "the approval asked for again")
    supervisor = system.headers("sam", ("supervisor",))
    approved = system.app.http.post(
        f"/api/approvals/{waiting}", json={"approve": True}, headers=supervisor
    )
    assert approved.status_code == 202, approved.text
    assert system.wait_done(waiting)["status"] == "completed"
