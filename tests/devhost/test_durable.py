"""Durable conformance: orchestrations run through the SDK's real replay, driven over HTTP by the
SDK's real DurableOrchestrationClient talking to the devhost's Durable HTTP API."""

from __future__ import annotations

import json
import uuid

import pytest

from devhost.durable.history import EventType
from tests.devhost.conftest import APPS


@pytest.fixture
def host(start_host):
    return start_host(APPS / "durable")


def start(host, name: str, payload, instance_id: str | None = None) -> str:
    instance_id = instance_id or f"{name}-{uuid.uuid4().hex[:8]}"
    response = host.http.post(
        f"/api/orchestrators/{name}", params={"id": instance_id}, json=payload
    )
    assert response.status_code == 202, response.text
    assert response.text == instance_id
    return instance_id


def finish(host, name: str, payload, timeout: float = 20):
    instance_id = start(host, name, payload)
    instance = host.wait(instance_id, timeout)
    status = host.http.get(f"/api/instances/{instance_id}").json()
    return instance, status


def ids(instance, kind: EventType) -> list[int]:
    key = {
        EventType.TASK_SCHEDULED: "EventId",
        EventType.TIMER_CREATED: "EventId",
        EventType.TASK_COMPLETED: "TaskScheduledId",
        EventType.TASK_FAILED: "TaskScheduledId",
        EventType.TIMER_FIRED: "TimerId",
    }[kind]
    return [e[key] for e in instance.history if e["EventType"] == kind]


def test_activities_with_and_without_retry_joined_by_task_all(host):
    instance, status = finish(host, "mixed", "mixed-ok:2")

    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["hello a", "ok after 3", "hello c", "hello d"]
    assert status["customStatus"] == "fanned-out"
    # Ids as DTFx hands them out: 0-2 for the fan-out; a retry timer after each failure (3, 5);
    # the reschedules (4, 6); then the activity after the fan-out (7).
    assert ids(instance, EventType.TASK_SCHEDULED) == [0, 1, 2, 4, 6, 7]
    assert ids(instance, EventType.TASK_FAILED) == [1, 4]
    assert ids(instance, EventType.TIMER_CREATED) == [3, 5]
    assert ids(instance, EventType.TIMER_FIRED) == [3, 5]


def test_retry_exhaustion_waits_for_the_extra_timer_then_fails(host):
    instance, status = finish(host, "mixed", "mixed-never:9")

    assert status["runtimeStatus"] == "Failed"
    assert "Activity function 'flaky' failed: attempt 3 failed" in status["output"]
    assert ids(instance, EventType.TASK_FAILED) == [1, 4, 6]
    # DTFx's RetryInterceptor creates a timer after the last failure too (id 7).
    assert ids(instance, EventType.TIMER_CREATED) == [3, 5, 7]
    assert ids(instance, EventType.TIMER_FIRED) == [3, 5, 7]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync-on-threads", "async-as-tasks"])
def test_fan_out_runs_activities_concurrently(host, is_async):
    _, status = finish(host, "fan_out", {"seconds": 0.5, "async": is_async})

    spans = status["output"]
    assert status["runtimeStatus"] == "Completed" and len(spans) == 3
    # Every activity started before any of them ended: they overlapped in time.
    assert max(s["start"] for s in spans) < min(s["end"] for s in spans)


def test_task_any_won_by_the_activity_cancels_the_timer(host):
    instance, status = finish(host, "race", {"racer": "activity", "seconds": 0.05, "timeout": 30})

    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["winner"] == "activity"
    # Completed without waiting 30 s for the cancelled timer, which never fired.
    assert ids(instance, EventType.TIMER_FIRED) == []


def test_task_any_won_by_the_timer(host):
    instance, status = finish(host, "race", {"racer": "activity", "seconds": 2, "timeout": 0.2})

    assert status["output"] == {"winner": "timer"}
    assert ids(instance, EventType.TIMER_FIRED) == [1]


def test_task_any_between_an_external_event_and_a_timer(host):
    instance_id = start(host, "race", {"racer": "event", "timeout": 30})
    host.loop.run(host.engine.wait_idle(instance_id, 5))
    response = host.http.post(f"/api/instances/{instance_id}/events/approval", json={"ok": True})
    assert response.status_code == 202

    instance = host.wait(instance_id)
    output = json.loads(instance.output_json)
    assert output["winner"] == "event"
    # As in Azure (azure-functions-durable-python#295) the event data arrives as JSON text.
    assert json.loads(output["result"]) == {"ok": True}


def test_external_event_arriving_before_the_orchestrator_waits_is_kept(host):
    instance_id = start(host, "early_event", 0.3)
    host.http.post(f"/api/instances/{instance_id}/events/go", json=[1, 2])

    instance = host.wait(instance_id)
    assert instance.status == "Completed"
    assert json.loads(json.loads(instance.output_json)["event"]) == [1, 2]


def test_activity_exception_is_catchable_in_the_orchestrator(host):
    _, status = finish(host, "catches", None)

    assert status["output"] == {"caught": "Activity function 'boom' failed: kaput "}


def test_unhandled_activity_exception_fails_the_instance_as_the_host_does(host):
    _, status = finish(host, "unhandled", None)

    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith(
        "Orchestrator function 'unhandled' failed: Activity function 'boom' failed: not caught"
    )


def test_sub_orchestrations(host):
    instance, status = finish(host, "parent", None)

    assert status["output"] == ["HELLO X", "HELLO Y"]
    child = host.engine.instances[f"{instance.instance_id}-named"]
    assert child.status == "Completed" and child.parent == (instance.instance_id, 1)


def test_continue_as_new_restarts_with_fresh_history(host):
    instance, status = finish(host, "counter", 0)

    assert status["output"] == 3
    assert instance.execution == 3
    started = [e for e in instance.history if e["EventType"] == EventType.EXECUTION_STARTED]
    assert len(started) == 1 and started[0]["Input"] == "3"


def test_non_deterministic_orchestrator_fails(host):
    _, status = finish(host, "nondeterministic", None)

    assert status["runtimeStatus"] == "Failed"
    assert "Non-Deterministic workflow detected" in status["output"]
    assert "'hello' with sequence ID 0" in status["output"]


def test_custom_status_while_running_then_terminate(host):
    instance_id = start(host, "status_then_wait", None)
    host.loop.run(host.engine.wait_idle(instance_id, 5))

    running = host.http.get(f"/api/instances/{instance_id}").json()
    assert running["runtimeStatus"] == "Running"
    assert running["customStatus"] == {"stage": "waiting"}

    assert host.http.post(f"/api/instances/{instance_id}/terminate").status_code == 202
    instance = host.wait(instance_id)
    assert instance.status == "Terminated"
    assert json.loads(instance.output_json) == "stopped by test"


def test_raise_event_to_unknown_or_finished_instances_is_refused(host):
    unknown = host.http.post("/api/instances/nope/events/go", json=1)
    assert unknown.status_code == 500  # the SDK raises "No instance with ID nope found."

    instance, _ = finish(host, "catches", None)
    gone = host.engine.raise_event(instance.instance_id, "go", "1")
    assert gone is False


def test_starting_a_running_instance_id_again_is_refused(host):
    instance_id = start(host, "status_then_wait", None)
    again = host.http.post(
        "/api/orchestrators/status_then_wait", params={"id": instance_id}, json=None
    )
    assert again.status_code == 500  # the SDK raises on the host's refusal
    assert host.engine.instances[instance_id].status in ("Pending", "Running")


def test_wait_for_completion_returns_the_output(host):
    response = host.http.post("/api/wait/catches", json=None)

    assert response.status_code == 200
    assert response.json() == {"caught": "Activity function 'boom' failed: kaput "}


def test_status_history_list_and_purge(host):
    instance, status = finish(host, "catches", None)
    history = status["history"]
    assert [e["EventType"] for e in history][:2] == ["ORCHESTRATOR_STARTED", "EXECUTION_STARTED"]
    assert history[-1]["OrchestrationStatus"] == "Completed"

    assert instance.instance_id in host.http.get("/api/instances").json()
    assert host.http.delete(f"/api/instances/{instance.instance_id}").text == "1"
    assert host.http.get(f"/api/instances/{instance.instance_id}").status_code == 404


def list_page(host, headers: dict[str, str] | None = None, **query: str):
    """One page of the Durable HTTP API's instance query (the webhook; host.http sends the key)."""
    return host.http.get(
        "/runtime/webhooks/durabletask/instances/", params=query, headers=headers or {}
    )


def test_instance_query_filters_shows_custom_status_and_pages(host):
    waiting = sorted(start(host, "status_then_wait", None, f"wait-{n}") for n in range(5))
    done, _ = finish(host, "catches", None)
    for instance_id in waiting:
        host.loop.run(host.engine.wait_idle(instance_id, 5))

    # The SDK's get_status_by: the runtime status filter, and the custom status in the answer.
    assert host.http.get("/api/running-instances").json() == {
        instance_id: {"name": "status_then_wait", "customStatus": {"stage": "waiting"}}
        for instance_id in waiting
    }

    first = list_page(host, runtimeStatus="Running")
    assert first.status_code == 200 and first.headers["x-ms-continuation-token"] == ""
    assert [s["instanceId"] for s in first.json()] == waiting  # ordered by instance id
    assert {s["runtimeStatus"] for s in first.json()} == {"Running"}

    seen, token, pages = [], "", 0
    while True:
        page = list_page(
            host, {"x-ms-continuation-token": token} if token else None, top="2", runtimeStatus="0"
        )
        assert page.status_code == 200 and len(page.json()) <= 2
        seen += [s["instanceId"] for s in page.json()]
        pages += 1
        token = page.headers["x-ms-continuation-token"]
        if not token:
            break
    assert seen == waiting and pages == 3

    # Values the host cannot parse are ignored; none parsed means no filter.
    assert [s["instanceId"] for s in list_page(host, runtimeStatus="Bogus,Running").json()] == (
        waiting
    )
    everything = [s["instanceId"] for s in list_page(host, runtimeStatus="running").json()]
    assert sorted([*waiting, done.instance_id]) == everything
    assert len(list_page(host, runtimeStatus="+-5").json()) == 6
    assert list_page(host, runtimeStatus="42").json() == []  # a number parses, matching nothing
    completed = list_page(host, runtimeStatus="Completed,Failed", instanceIdPrefix="catches")
    assert [s["instanceId"] for s in completed.json()] == [done.instance_id]
    assert completed.json()[0]["output"] == {"caught": "Activity function 'boom' failed: kaput "}
    assert list_page(host, createdTimeFrom="2999-01-01T00:00:00Z").json() == []
    assert len(list_page(host, createdTimeTo="not a date").json()) == 6

    malformed = list_page(host, {"x-ms-continuation-token": "not-a-token"}, runtimeStatus="Running")
    assert malformed.status_code == 400


def test_instance_query_shows_input_unless_asked_not_to(host):
    instance_id = start(host, "status_then_wait", {"user": "ada"})
    host.loop.run(host.engine.wait_idle(instance_id, 5))

    [shown] = list_page(host, runtimeStatus="Running").json()
    [hidden] = list_page(host, runtimeStatus="Running", showInput="false").json()

    assert shown["input"] == {"user": "ada"} and hidden["input"] is None
    assert shown["customStatus"] == hidden["customStatus"] == {"stage": "waiting"}


def test_unknown_orchestrator_is_refused(host):
    response = host.http.post("/api/orchestrators/no_such_thing", json=None)
    assert response.status_code == 500
