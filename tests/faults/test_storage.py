"""Azurite (Table storage) stopped in the middle of a conversation, then started again.

Each test runs its own Azurite on ports fixed for the test, so it can be stopped and started
again at the same address the app was configured with. Meanwhile the API answers
`503 upstream_unavailable` (retryable) and never crashes; the delegation in flight still answers
through the status route; once storage is back, new conversations complete.

Durable state is not in Azurite here: the devhost keeps orchestrations in memory, so they keep
running through the outage (in Azure, the Durable task hub lives in the same storage account and
would pause with it).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devhost.azurite import AzuriteProcess, start_azurite
from tests.conftest import ROOT, free_port
from tests.system import assert_turn_complete, error_of, start_system, stop_system

pytestmark = pytest.mark.azurite

SETTINGS = {"VOICE_SYNC_WAIT_SECONDS": "0.5"}
# Agents re-register often and retry quickly, so the registry refills after a restart.
HEARTBEAT = 1
AGENT_SETTINGS = {"retry_initial_seconds": 0.2, "retry_max_seconds": 1.0}


class RestartableAzurite:
    """One Azurite that can be stopped and started again on the same ports."""

    def __init__(self, location: Path | None) -> None:
        self.ports = {
            "blob_port": free_port(),
            "queue_port": free_port(),
            "table_port": free_port(),
        }
        self.location = location
        self.process: AzuriteProcess | None = None
        self.start()
        self.connection_string = self.process.connection_string

    def start(self) -> None:
        self.process = start_azurite(
            **self.ports,
            location=self.location,
            in_memory=self.location is None,
            script_root=ROOT,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture
def own_azurite(request, tmp_path):
    azurite = RestartableAzurite(tmp_path / "azurite" if request.param == "on-disk" else None)
    yield azurite
    azurite.stop()


@pytest.fixture
def storage_system(own_azurite, start_host, loop_thread, app_env, cached_clients_closed):
    def apply(**values: str):
        return app_env(AzureWebJobsStorage=own_azurite.connection_string, **values)

    system = start_system(
        start_host,
        loop_thread,
        apply,
        own_azurite.connection_string,
        settings=SETTINGS,
        heartbeat_seconds=HEARTBEAT,
        agent_settings=AGENT_SETTINGS,
    )
    yield system
    stop_system(system)


def unavailable(response) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    error = error_of(response)
    assert error["code"] == "upstream_unavailable" and error["retryable"] is True, error


def finished_turn(system, customer: str, symptoms: list[str], **extra) -> dict:
    posted = system.ask(customer, symptoms, **extra)
    assert posted.status_code in (200, 202), posted.text
    done = system.wait_done(posted.json()["instanceId"])
    assert done["status"] == "completed", done
    return done


def wait_stage(system, instance_id: str, stage: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while system.status(instance_id).json()["progress"].get("stage") != stage:
        assert time.monotonic() < deadline, system.status(instance_id).json()
        time.sleep(0.05)


def answer_through_status_route(system, instance_id: str, timeout: float = 20) -> dict:
    """The delegation's answer as the status route shows it: once completed, or while the turn
    is still being recorded (the progress carries the answer as soon as it is composed)."""
    deadline = time.monotonic() + timeout
    while True:
        body = system.status(instance_id).json()
        if body["status"] == "completed":
            return {key: body[key] for key in ("answer", "agents", "partial")}
        if isinstance(body["progress"].get("answer"), dict):
            return body["progress"]["answer"]
        assert body["status"] == "running" and time.monotonic() < deadline, body
        time.sleep(0.1)


def outage_then_restart(system, azurite: RestartableAzurite) -> tuple[dict, str]:
    """Turn 1 completes; turn 2 is in flight when storage stops; the API answers 503 while it
    is down, and turn 2's answer still reaches the caller; storage restarts.
    Returns turn 1's status and turn 2's instance id."""
    first = finished_turn(system, "CUST-0001", ["no_internet"])
    conversation = first["conversationId"]
    assert_turn_complete(system.wait_history(conversation, first["instanceId"]), first)

    system.faults("network-performance", latencyMs=1500)
    posted = system.ask("CUST-0003", ["slow_internet"], conversationId=conversation)
    assert posted.status_code == 202, posted.text
    in_flight = posted.json()["instanceId"]
    wait_stage(system, in_flight, "diagnosing")

    azurite.stop()
    user = system.headers()
    started = time.monotonic()
    unavailable(system.app.http.get("/api/conversations", headers=user))
    unavailable(system.app.http.get(f"/api/conversations/{conversation}", headers=user))
    unavailable(system.ask("CUST-0003", ["slow_internet"], conversationId=conversation))
    unavailable(system.ask("CUST-0001", ["no_internet"]))
    unavailable(system.app.http.get("/api/agents", headers=user))
    unavailable(system.app.http.post("/api/events/negotiate", headers=user))  # fails closed
    health = system.app.http.get("/api/health")
    assert health.status_code == 503
    assert health.json()["dependencies"]["storage"]["status"] == "unavailable"
    assert system.app.http.get("/api/auth/me", headers=user).status_code == 200
    assert time.monotonic() - started < 30  # each answer is prompt: no hanging request

    # The delegation in flight answers through the status route all the same.
    answer = answer_through_status_route(system, in_flight)
    assert answer["answer"] and answer["partial"] is False, answer

    azurite.start()
    system.wait_agents()  # the agents' heartbeat re-registers them
    # Nothing is left running once storage is back (recording the turn is retried or given up).
    assert system.stuck_instances(timeout=60) == {}
    return first, in_flight


@pytest.mark.parametrize("own_azurite", ["on-disk"], indirect=True)
def test_storage_outage_then_restart_with_the_data_kept(storage_system, own_azurite):
    system = storage_system
    first, _ = outage_then_restart(system, own_azurite)

    # What was written before the outage is there.
    conversation = first["conversationId"]
    listed = system.app.http.get("/api/conversations", headers=system.headers())
    assert listed.status_code == 200, listed.text
    assert conversation in [c["conversationId"] for c in listed.json()["conversations"]]
    messages = system.history(conversation)
    assert_turn_complete([m for m in messages if m["instanceId"] == first["instanceId"]], first)

    # A conversation started after the restart completes and is recorded.
    third = finished_turn(system, "CUST-0002", ["modem_lights"], ledState="red")
    assert third["partial"] is False, third
    assert_turn_complete(system.wait_history(third["conversationId"], third["instanceId"]), third)
    assert system.stuck_instances() == {}


@pytest.mark.parametrize("own_azurite", ["in-memory"], indirect=True)
def test_storage_restarted_empty_loses_the_history_and_recovers(storage_system, own_azurite):
    """An in-memory Azurite restarts empty: every conversation, the registry and the rate-limit
    counters are gone. The app must notice the missing tables and carry on."""
    system = storage_system
    first, _ = outage_then_restart(system, own_azurite)

    # Turn 1 is gone with the in-memory data. (The conversation may exist again: the turn in
    # flight during the outage is recorded once its retries find storage back.)
    conversation = first["conversationId"]
    user = system.headers()
    listed = system.app.http.get("/api/conversations", headers=user)
    assert listed.status_code == 200, listed.text
    found = system.app.http.get(f"/api/conversations/{conversation}", headers=user)
    if conversation in [c["conversationId"] for c in listed.json()["conversations"]]:
        assert first["instanceId"] not in [m["instanceId"] for m in found.json()["messages"]]
    else:
        assert found.status_code == 404 and error_of(found)["code"] == "not_found"

    third = finished_turn(system, "CUST-0002", ["modem_lights"], ledState="red")
    assert_turn_complete(system.wait_history(third["conversationId"], third["instanceId"]), third)
