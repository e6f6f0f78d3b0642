"""The devhost killed (SIGKILL) while a delegation waits for a supervisor's approval.

The devhost runs as its own process here (`python -m devhost`, as `scripts/run.sh` starts it),
against the session Azurite, with the sample agents and the local Web PubSub service running in
the test, so it can be killed and started again on the same port.

What is lost locally: the devhost keeps orchestrations in memory, so the waiting instance (its
history, its progress, the approval it waits for) is gone; its status is `404` (never a 5xx), an
approval for it is `404`, and the conversation's history has no trace of the turn (a turn is
recorded when it finishes). What is kept: everything in Table storage (the conversation itself,
the agent registry). Posting the same tool call again starts the delegation afresh under the
same instance id, and it completes. In Azure, Durable's storage backend keeps the instance.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from azure.data.tables import TableServiceClient

from agents.server import start_agents
from agents.settings import load_settings as load_agent_settings
from devhost.pubsub import PubSubService
from tests.conftest import free_port, remember_secret
from tests.system import (
    ACCESS_KEY,
    BASE_SETTINGS,
    ROOT,
    LocalSystem,
    error_of,
)

pytestmark = pytest.mark.azurite


class DevhostProcess:
    """`python -m devhost` on a fixed port, started and killed at will; its host key is set
    (DEVHOST_HOST_KEY), so it stays the same across restarts."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.key = remember_secret("restart-host-key-" + secrets.token_urlsafe(24))
        self.base_url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        command = [
            sys.executable,
            "-m",
            "devhost",
            "--script-root",
            str(ROOT),
            "--port",
            str(self.port),
            "--no-azurite",
            "--no-agents",
            "--no-pubsub",
            "--no-timers",
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
                command,
                cwd=ROOT,
                env={**os.environ, "DEVHOST_HOST_KEY": self.key},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.base_url}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.2)

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
    devhost = DevhostProcess(free_port(), tmp_path / "devhost.log")
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


def awaiting_approval(system, body: dict) -> str:
    posted = system.app.http.post("/api/messages", json=body, headers=system.headers())
    assert posted.status_code == 202, posted.text
    instance_id = posted.json()["instanceId"]
    deadline = time.monotonic() + 15
    while system.status(instance_id).json()["progress"].get("stage") != "awaiting-approval":
        assert time.monotonic() < deadline, system.status(instance_id).json()
        time.sleep(0.05)
    return instance_id


def test_a_devhost_killed_during_an_approval_loses_the_instance_not_the_api(killable):
    system, devhost = killable
    body = system.body("CUST-0010", ["technician_visit"], conversationId="restart-approval")
    instance_id = awaiting_approval(system, body)
    assert system.history("restart-approval") == []  # a turn is recorded when it finishes

    devhost.kill()
    devhost.start()

    # The instance is gone with the process: the API says so with 404s, not 5xx.
    status = system.status(instance_id)
    assert status.status_code == 404, status.text
    assert error_of(status)["code"] == "not_found"
    supervisor = system.headers("sam", ("supervisor",))
    approval = system.app.http.post(
        f"/api/approvals/{instance_id}", json={"approve": True}, headers=supervisor
    )
    assert approval.status_code == 404 and error_of(approval)["code"] == "not_found"
    instances = system.app.http.get("/runtime/webhooks/durabletask/instances").json()
    assert instances == []

    # Table storage kept the conversation (not the unfinished turn) and the registry.
    conversation = system.app.http.get(
        "/api/conversations/restart-approval", headers=system.headers()
    )
    assert conversation.status_code == 200, conversation.text
    assert conversation.json()["messages"] == []
    assert len(system.wait_agents()) == 6

    # The browser posting the same tool call again starts it afresh, and it completes.
    assert awaiting_approval(system, body) == instance_id
    approved = system.app.http.post(
        f"/api/approvals/{instance_id}", json={"approve": True}, headers=supervisor
    )
    assert approved.status_code == 202, approved.text
    done = system.wait_done(instance_id)
    assert done["status"] == "completed" and "book" in done["answer"].lower(), done
    turn = system.wait_history("restart-approval", instance_id)
    assert [m["role"] for m in turn][0] == "user" and turn[-1]["text"] == done["answer"]
