"""Azurite (Table storage) stopped in the middle of a conversation, then started again.

Each test runs its own Azurite on ports fixed for the test, so it can be stopped and started
again at the same address the app was configured with. Meanwhile the API answers
`503 upstream_unavailable` (retryable) and never crashes; the delegation in flight still answers
through the status route; once storage is back, new conversations complete.

Durable state lives in the same Azurite (the devhost's store, as the task hub in Azure): while it
is down the devhost's engine keeps running in memory and retries its writes, so the orchestration
logic under test (retries, reconciliation, fresh attempts) is what decides each turn's fate.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devhost.azurite import AzuriteProcess, start_azurite
from orchestrations.contract import ORCHESTRATOR, DelegationJob
from tests.conftest import ROOT, free_port
from tests.contoso import BODY
from tests.system import assert_turn_complete, error_of, start_system, stop_system
from voicea2a.config import get_settings
from voicea2a.messages import instance_id_for

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
def storage_settings() -> dict[str, str]:
    """The app settings of one test (tests parametrize this fixture)."""
    return SETTINGS


@pytest.fixture
def storage_system(
    own_azurite, storage_settings, start_host, loop_thread, app_env, cached_clients_closed
):
    def apply(**values: str):
        return app_env(AzureWebJobsStorage=own_azurite.connection_string, **values)

    system = start_system(
        start_host,
        loop_thread,
        apply,
        own_azurite.connection_string,
        settings=storage_settings,
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


def diagnosing(status: dict) -> bool:
    return status["progress"].get("stage") == "diagnosing"


def answer_through_status_route(system, instance_id: str, timeout: float = 20) -> dict:
    """The delegation's answer as the status route shows it: as soon as it is composed, while
    the turn may still be being recorded."""

    def answered(body: dict) -> bool:
        if isinstance(body.get("answer"), str):
            return True
        assert body["status"] == "running", body
        return False

    body = system.wait_status(instance_id, answered, "its answer", timeout=timeout)
    return {key: body[key] for key in ("answer", "agents", "partial")}


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
    system.wait_status(in_flight, diagnosing, "the diagnosing stage")

    azurite.stop()
    user = system.headers()
    # Each is answered, as a retryable 503 (a request hanging on storage would time out).
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

    # The delegation in flight answers through the status route all the same.
    answer = answer_through_status_route(system, in_flight)
    assert answer["answer"] and answer["partial"] is False, answer

    azurite.start()
    system.wait_agents()  # the agents' heartbeat re-registers them
    # Nothing is left running once storage is back: recording the turn was retried, and the
    # turn in flight during the outage is in the history exactly once.
    assert system.stuck_instances(timeout=90) == {}
    turn = turn_rows(system, conversation, in_flight)
    assert_turn_complete(turn, answer)
    assert [m["role"] for m in turn].count("user") == 1, turn
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


def turn_rows(system, conversation: str, instance_id: str) -> list[dict]:
    """The history's messages of one turn (each written once: user, agents, answer)."""
    return [m for m in system.history(conversation) if m["instanceId"] == instance_id]


def durable_status(system, instance_id: str) -> dict:
    """The instance as the Durable HTTP API shows it (output included)."""
    response = system.app.http.get(f"/runtime/webhooks/durabletask/instances/{instance_id}")
    assert response.status_code in (200, 202), response.text
    return response.json()


@pytest.mark.parametrize("own_azurite", ["on-disk"], indirect=True)
@pytest.mark.parametrize("storage_settings", [{**SETTINGS, "HISTORY_RETRY_MINUTES": "0.05"}])
def test_a_turn_storage_never_took_is_reconciled_exactly_once(storage_system, own_azurite):
    system = storage_system
    system.faults("network-performance", latencyMs=1500)
    posted = system.ask("CUST-0003", ["slow_internet"])
    assert posted.status_code == 202, posted.text
    instance_id, conversation = posted.json()["instanceId"], posted.json()["conversationId"]
    system.wait_status(instance_id, diagnosing, "the diagnosing stage")

    own_azurite.stop()
    # Answered all the same; recording is retried for HISTORY_RETRY_MINUTES (3 s), then the
    # turn is kept in the delegation's output.
    answer = answer_through_status_route(system, instance_id)
    done = system.wait_done(instance_id, timeout=60)
    assert done["status"] == "completed" and done["answer"] == answer["answer"], done
    pending = durable_status(system, instance_id)["output"]["historyPending"]
    assert pending["instanceId"] == instance_id and pending["answer"] == answer

    own_azurite.start()
    assert turn_rows(system, conversation, instance_id) == []  # not written by itself
    for _ in range(2):  # the job may run any number of times: the turn is written once
        ran = system.app.http.post("/admin/functions/reconcile_history", json={})
        assert ran.status_code == 202, ran.text
        turn = turn_rows(system, conversation, instance_id)
        assert_turn_complete(turn, done)
        assert [m["role"] for m in turn].count("user") == 1, turn
    # The API never shows the pending turn: the answer is the answer.
    assert "historyPending" not in system.status(instance_id).json()


def delegation_job(body: dict, user: str, conversation: str) -> DelegationJob:
    """The job POST /api/messages builds for `body` (api/messages.py)."""
    return {
        "user": user,
        "conversationId": conversation,
        "callId": body["callId"],
        "correlationId": None,
        "traceparent": None,
        "startedAt": datetime.now(UTC).isoformat(),
        "request": BODY.parse(body).to_json(),
        "limits": get_settings().delegation.to_json(),
    }


@pytest.mark.parametrize("own_azurite", ["on-disk"], indirect=True)
@pytest.mark.parametrize("storage_settings", [{**SETTINGS, "TURN_DEADLINE_SECONDS": "2"}])
def test_a_call_whose_planning_met_an_outage_is_answered_when_posted_again(
    storage_system, own_azurite
):
    system = storage_system
    conversation = "planning-outage-" + uuid.uuid4().hex[:8]
    body = system.body("CUST-0003", ["slow_internet"], conversationId=conversation)
    instance_id = instance_id_for("ada", conversation, body["callId"])

    # The POST got through just before the outage: its delegation plans with storage down.
    own_azurite.stop()
    job = json.dumps(delegation_job(body, "ada", conversation))

    async def start() -> None:
        system.app.engine.start(ORCHESTRATOR, instance_id, job)

    system.loop.run(start())
    failed = system.wait_done(instance_id, timeout=30)
    # Planning was retried within the turn's deadline, then the delegation failed as retryable.
    assert failed["status"] == "failed" and failed["retryable"] is True, failed

    own_azurite.start()
    # Voice Live retries the tool call with the same call id: a fresh attempt answers it.
    again = system.app.http.post("/api/messages", json=body, headers=system.headers())
    assert again.status_code in (200, 202), again.text
    assert again.json()["instanceId"] == instance_id
    done = system.wait_done(instance_id)
    assert done["status"] == "completed" and done["partial"] is False, done
    turn = system.wait_history(conversation, instance_id)
    assert_turn_complete(turn, done)
    assert [m["role"] for m in turn].count("user") == 1, turn
    # A completed call posted once more is the same answer, not a third attempt.
    repeat = system.app.http.post("/api/messages", json=body, headers=system.headers())
    assert repeat.status_code == 200 and repeat.json()["answer"] == done["answer"], repeat.text
    assert turn_rows(system, conversation, instance_id) == turn
