"""Delegation end to end on the devhost: the real sample agents over loopback HTTP, Azurite,
the local Web PubSub service (a WebSocket client records the events), and the real app."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import jsonschema
import pytest

from devhost.durable.history import EventType
from orchestrations.contract import CALL_SPECIALIST, PLAN_DELEGATION, RECORD_TURN
from tests.agents.identities import IDENTITIES
from tests.e2e.recorder import ROOT, agent_statuses, approval_requested, record_events
from tests.system import error_of
from voicea2a import instances

pytestmark = pytest.mark.azurite

SCHEMA = json.loads((ROOT / "docs" / "events.schema.json").read_text())


# ----- happy paths, one per intent -----


@pytest.mark.parametrize(
    "customer, symptoms, extra, expect_agents, expect_text",
    [
        ("CUST-0001", ["no_internet"], {}, {"outage"}, "outage"),
        ("CUST-0003", ["slow_internet"], {}, {"network"}, ""),
        ("CUST-0002", ["modem_lights"], {"ledState": "blinking-yellow"}, {"modem"}, ""),
        ("CUST-0010", ["billing_question"], {}, {"plan"}, ""),
        ("CUST-0005", ["slow_internet"], {}, {"network", "dispatch"}, ""),
    ],
    ids=["outage", "slow-internet", "modem-lights", "billing", "dispatch-needed"],
)
def test_each_intent_end_to_end(system, customer, symptoms, extra, expect_agents, expect_text):
    recorder = record_events(system)
    response = system.ask(customer, symptoms, **extra)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] and len(body["answer"]) <= 800
    if expect_text:
        assert expect_text in body["answer"].lower()
    used = " ".join(body["agents"])
    for fragment in expect_agents | {"authentication"}:
        assert fragment in used, (fragment, body["agents"])

    events = recorder.of(body["callId"])
    recorder.stop()
    kinds = [e["type"] for e in events]
    # The task's own events in order (a new conversation is announced by the delegation, never
    # inline in the POST); each agent's in order; the agents' go side by side with the task's.
    own = [e["type"] for e in events if e.get("agent") is None]
    assert own[:3] == ["conversation.created", "task.created", "task.updated"], own
    assert own[-2:] == ["message", "task.updated"], own
    for agent in {e.get("agent") for e in events} - {None}:
        statuses = [e["data"]["status"] for e in events if e.get("agent") == agent]
        assert statuses[0] == "started" and statuses[-1] == "completed", (agent, statuses)
    for event in events:
        jsonschema.validate(event, SCHEMA)
    assert events[kinds.index("message")]["data"]["text"] == body["answer"]

    history = system.app.http.get(
        f"/api/conversations/{body['conversationId']}", headers=system.headers()
    ).json()
    texts = json.dumps(history["messages"])
    assert body["answer"] in texts
    listed = system.app.http.get("/api/conversations", headers=system.headers()).json()
    assert body["conversationId"] in [c["conversationId"] for c in listed["conversations"]]


def test_a_turn_schedules_only_its_own_work(system):
    """What a turn costs in Durable work items (issue 19): the plan, one call per agent and the
    record. The answer is composed in the orchestrator and the events ride with these
    activities, so neither adds an activity (nor the episode its completion would cost)."""
    body = system.ask("CUST-0001", ["no_internet"]).json()
    system.wait_done(body["instanceId"])

    history = system.app.engine.instances[body["instanceId"]].history
    scheduled = [e["Name"] for e in history if e["EventType"] == EventType.TASK_SCHEDULED]
    assert scheduled[0] == PLAN_DELEGATION and scheduled[-1] == RECORD_TURN, scheduled
    assert scheduled[1:-1] == [CALL_SPECIALIST] * 4, scheduled  # authentication, then three


# ----- agents failing -----


def test_an_agent_down_gives_a_partial_answer(system, loop_thread):
    loop_thread.run(system.agents.agents["outage-check"].server.shutdown())
    response = system.ask("CUST-0001", ["no_internet"])

    body = response.json()
    assert response.status_code == 200 and body["partial"] is True
    assert "couldn't" in body["answer"].lower() or "could not" in body["answer"].lower()


def test_an_agent_that_errors_twice_then_succeeds(system):
    recorder = record_events(system)
    system.faults("modem-check", failFirst=2)

    body = system.ask("CUST-0002", ["modem_lights"], ledState="red").json()

    assert body["partial"] is False
    statuses = [s for a, s in agent_statuses(recorder.of(body["callId"])) if "modem" in a]
    recorder.stop()
    assert statuses == ["started", "retrying", "retrying", "completed"]


def test_an_agent_slower_than_its_deadline_times_out(system):
    recorder = record_events(system)
    system.faults("network-performance", latencyMs=6000)

    body = system.ask("CUST-0003", ["slow_internet"]).json()

    assert body["partial"] is True
    statuses = dict(agent_statuses(recorder.of(body["callId"])))
    recorder.stop()
    assert [s for a, s in statuses.items() if "network" in a] == ["timed-out"]


def test_all_agents_down_still_answers(system, loop_thread):
    loop_thread.run(system.agents.stop())
    response = system.ask("CUST-0001", ["no_internet"])

    assert response.status_code == 200
    body = response.json()
    assert body["partial"] is True and body["answer"]


# ----- human approval -----


def dispatch_needing_approval(system, customer: str = "CUST-0010") -> tuple[str, dict]:
    """Ask for a technician for a customer seen within 30 days: a supervisor must approve. The
    answer comes at once; the delegation goes on waiting for the supervisor."""
    response = system.ask(customer, ["technician_visit"])
    assert response.status_code == 200, response.text
    assert "needs a supervisor's approval" in response.json()["answer"]
    instance_id = response.json()["instanceId"]
    body = system.wait_status(
        instance_id,
        lambda status: status["progress"].get("stage") == "awaiting-approval",
        "the approval asked for",
    )
    return instance_id, body


@pytest.mark.parametrize("approve", [True, False])
def test_dispatch_approval_approved_or_rejected(system, approve):
    supervisor = record_events(system, "sam", ("supervisor",))
    instance_id, _ = dispatch_needing_approval(system)
    user = system.headers()

    assert (
        system.app.http.post(
            f"/api/approvals/{instance_id}", json={"approve": approve}, headers=user
        ).status_code
        == 403
    )
    decided = system.app.http.post(
        f"/api/approvals/{instance_id}",
        json={"approve": approve, "note": "ok"},
        headers=system.headers("sam", ("supervisor",)),
    )
    assert decided.status_code == 202, decided.text

    done = system.wait_done(instance_id)
    assert done["status"] == "completed"
    assert "needs a supervisor's approval" in done["answer"]
    [follow_up] = done["followUps"]
    if approve:
        assert "book" in follow_up["answer"].lower()
    else:
        assert "supervisor will call" in follow_up["answer"].lower()
    seen = {e["type"] for e in supervisor.events}
    supervisor.stop()
    assert {"approval.requested", "approval.resolved"} <= seen


@pytest.mark.parametrize("overrides", [{"APPROVAL_TIMEOUT_MINUTES": "0.03"}])
def test_dispatch_approval_times_out(system):
    instance_id, _ = dispatch_needing_approval(system, "CUST-0003")  # a repeat visit

    done = system.wait_done(instance_id)

    assert done["status"] == "completed"
    [follow_up] = done["followUps"]
    assert "supervisor will call" in follow_up["answer"].lower()


# PAGE_SIZE is a constant of the app's module, patched here: the app must run in this process.
@pytest.mark.in_process_worker
def test_pending_approvals_are_listed_for_supervisors_until_decided(system, monkeypatch):
    # One instance per page: the listing has to follow the devhost's continuation tokens.
    monkeypatch.setattr(instances, "PAGE_SIZE", 1)
    supervisor = record_events(system, "sam", ("supervisor",))
    sam = system.headers("sam", ("supervisor",))
    first, first_status = dispatch_needing_approval(system)
    second, _ = dispatch_needing_approval(system, "CUST-0003")  # a repeat visit

    listed = system.app.http.get("/api/approvals", headers=sam)

    assert listed.status_code == 200, listed.text
    items = listed.json()["approvals"]
    assert [item["instanceId"] for item in items] == [first, second]  # oldest first
    for item in items:
        [requested] = [
            e
            for e in supervisor.of(item["callId"], until=approval_requested)
            if approval_requested(e)
        ]
        assert requested["instanceId"] == item["instanceId"]
        # What the ops group was told, no more (never the owner's user id).
        assert {k: item[k] for k in ("reason", "customerId", "expiresAt")} == requested["data"]
        assert item["conversationId"] == requested["conversationId"]
        assert item["reason"] and item["requestedAt"] < item["expiresAt"]
        assert item["agent"] == requested["agent"] == "contoso-technical-dispatch-agent"
        assert set(item) == {
            "instanceId",
            "agent",
            "reason",
            "customerId",
            "expiresAt",
            "requestedAt",
            "conversationId",
            "callId",
        }
    supervisor.stop()
    assert items[0]["customerId"] == "CUST-0010" and items[1]["customerId"] == "CUST-0003"
    assert first_status["progress"]["approval"]["expiresAt"] == items[0]["expiresAt"]

    anonymous = system.app.http.get("/api/approvals")
    assert anonymous.status_code == 401 and error_of(anonymous)["code"] == "unauthenticated"
    user = system.app.http.get("/api/approvals", headers=system.headers())
    assert user.status_code == 403 and error_of(user)["code"] == "forbidden"

    for instance_id, approve in ((first, True), (second, False)):
        decided = system.app.http.post(
            f"/api/approvals/{instance_id}", json={"approve": approve}, headers=sam
        )
        assert decided.status_code == 202, decided.text
        assert system.wait_done(instance_id)["status"] == "completed"
        still = system.app.http.get("/api/approvals", headers=sam).json()["approvals"]
        assert instance_id not in [item["instanceId"] for item in still]
        assert "approval" not in system.status(instance_id).json()["progress"]
    assert system.app.http.get("/api/approvals", headers=sam).json() == {"approvals": []}


# ----- idempotency, authorization, bad input -----


def test_the_same_post_twice_concurrently_is_one_instance(system):
    body = {
        "request": "Is there an outage?",
        "symptoms": ["no_internet"],
        "callId": "call-twice",
        "conversationId": "conv-twice",
    }
    first, last, postal, born = IDENTITIES["CUST-0008"]
    body["customer"] = {
        "firstName": first,
        "lastName": last,
        "postalCode": postal,
        "dateOfBirth": born,
    }

    def post(_: int) -> httpx.Response:
        return system.app.http.post("/api/messages", json=body, headers=system.headers())

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(post, range(2))

    assert a.json()["instanceId"] == b.json()["instanceId"]
    instances = [i for i in system.app.engine.instances if i == a.json()["instanceId"]]
    assert len(instances) == 1
    # On a busy machine the answer may come as 202: the turn is recorded once it is done.
    system.wait_done(a.json()["instanceId"])
    turn = system.wait_history("conv-twice", a.json()["instanceId"])
    requests = [m for m in system.history("conv-twice") if m.get("role") == "user"]
    assert len(requests) == 1 and any(m["role"] == "assistant" for m in turn)


def test_other_users_get_404_and_users_get_403_on_approvals(system):
    body = system.ask("CUST-0001", ["no_internet"]).json()
    eve = system.headers("eve")

    assert (
        system.app.http.get(f"/api/messages/{body['instanceId']}", headers=eve).status_code == 404
    )
    assert (
        system.app.http.get(f"/api/conversations/{body['conversationId']}", headers=eve).status_code
        == 404
    )
    assert (
        system.app.http.post(
            f"/api/approvals/{body['instanceId']}", json={"approve": True}, headers=eve
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "request"),
        ({"request": "x" * 4001}, "request"),
        ({"request": 42}, "request"),
        ({"request": "hi", "symptoms": "slow"}, "symptoms"),
        ({"request": "hi", "unknownField": 1}, "unknownField"),
        ({"request": "hi", "customer": {"dateOfBirth": "yesterday"}}, "dateOfBirth"),
    ],
)
def test_bad_input_names_the_field(system, payload, field):
    response = system.app.http.post("/api/messages", json=payload, headers=system.headers())

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert field in response.json()["error"]["message"]


def test_oversized_and_malformed_bodies(system):
    headers = {**system.headers(), "content-type": "application/json"}
    big = json.dumps({"request": "hi", "padding": "x" * 66_000}).encode()

    assert system.app.http.post("/api/messages", content=big, headers=headers).status_code == 413
    assert (
        system.app.http.post("/api/messages", content=b"{nope", headers=headers).status_code == 400
    )


def test_replaying_a_recorded_history_gives_the_same_actions(system):
    from devhost.durable.engine import flatten

    body = system.ask("CUST-0005", ["slow_internet"]).json()
    # The answer is returned before the turn is recorded: wait for the whole orchestration.
    instance = system.app.wait(body["instanceId"])
    history = [
        dict(event, IsPlayed=True) for event in instance.history if event["EventType"] != 1
    ]  # up to, not including, ExecutionCompleted
    info = system.app.host.index.orchestrators["delegation"]
    context = json.dumps(
        {
            "history": history,
            "input": instance.input_json,
            "instanceId": instance.instance_id,
            "isReplaying": True,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
    )

    state = json.loads(system.app.host.invoker.call_orchestrator(info, context))

    replayed = [(a["actionType"], a.get("functionName")) for a in flatten(state["actions"])]
    recorded = [(leaf.action_type, leaf.name) for leaf in instance.leaves]
    assert replayed == recorded
    assert state["isDone"] is True and state["output"] == json.loads(instance.output_json)
