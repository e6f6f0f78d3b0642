"""Hand-built replay fixtures: batched episodes (several new events in one episode) that the
devhost's one-message-per-episode driver never produces, but Azure's host does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devhost.durable import history as h
from devhost.durable.engine import flatten
from devhost.functions import Invoker, index_app, load_app
from tests.devhost.conftest import APPS

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Episodes:
    """A tiny history builder: past episodes are marked played, the last one is new."""

    def __init__(self, name: str, input_value) -> None:
        self.events: list[dict] = []
        self.input_json = json.dumps(input_value)
        self.name = name

    def episode(self, moment: datetime, *events: dict) -> Episodes:
        for event in self.events:
            event["IsPlayed"] = True
        self.events.append(h.orchestrator_started(moment))
        self.events.extend(events)
        return self

    def context(self, instance_id: str = "fixture") -> str:
        return json.dumps(
            {
                "history": self.events,
                "input": self.input_json,
                "instanceId": instance_id,
                "isReplaying": False,
                "parentInstanceId": None,
                "upperSchemaVersion": 1,
                "upperSchemaVersionNew": 2,
            }
        )


@pytest.fixture(scope="module")
def run():
    index = index_app(load_app(APPS / "durable"))
    invoker = Invoker(APPS / "durable")

    def run(builder: Episodes) -> dict:
        return json.loads(
            invoker.call_orchestrator(index.orchestrators[builder.name], builder.context())
        )

    yield run
    invoker.close()


def leaves(state: dict) -> list[tuple[int, str]]:
    return [
        (a["actionType"], a.get("functionName") or a.get("externalEventName"))
        for a in flatten(state["actions"])
    ]


def start(name: str, input_value) -> Episodes:
    return Episodes(name, input_value).episode(
        at(0), h.execution_started(at(0), name, "fixture", json.dumps(input_value))
    )


def test_first_episode_schedules_the_fan_out(run):
    state = run(start("mixed", "k:0"))

    assert state["isDone"] is False
    assert leaves(state) == [(0, "hello"), (1, "flaky"), (0, "hello")]


def test_all_fan_out_results_in_one_batch_move_on_in_one_episode(run):
    builder = start("mixed", "k:0").episode(
        at(1),
        h.task_completed(at(1), 2, json.dumps("hello c")),  # out of order
        h.task_completed(at(1), 0, json.dumps("hello a")),
        h.task_completed(at(1), 1, json.dumps("ok after 1")),
    )
    state = run(builder)

    assert state["isDone"] is False
    assert state["customStatus"] == "fanned-out"
    assert leaves(state)[-1] == (0, "hello")  # the activity after the fan-out
    assert len(leaves(state)) == 4


def test_a_retry_failure_batched_with_other_completions(run):
    # The fan-out took ids 0-2. One batch completes hello#0 and hello#2 around flaky#1's failure:
    # the host's retry timer takes id 3, the reschedule id 4, the activity after the fan-out id 5.
    builder = start("mixed", "k:1").episode(
        at(1),
        h.task_completed(at(1), 0, json.dumps("hello a")),
        h.task_failed(at(1), 1, "Activity function 'flaky' failed: attempt 1 failed", None),
        h.task_completed(at(1), 2, json.dumps("hello c")),
        h.timer_created(at(1), 3, at(2)),
    )
    state = run(builder)
    assert state["isDone"] is False and len(leaves(state)) == 3  # waiting on the retry timer

    builder.episode(
        at(2), h.timer_fired(at(2), 3, at(2)), h.task_scheduled(at(2), 4, "flaky", '"k:1"')
    )
    assert len(leaves(run(builder))) == 3  # the reschedule is the host's, not a new action

    builder.episode(at(3), h.task_completed(at(3), 4, json.dumps("ok after 2")))
    state = run(builder)
    assert leaves(state)[-1] == (0, "hello") and len(leaves(state)) == 4

    builder.episode(at(4), h.task_completed(at(4), 5, json.dumps("hello d")))
    state = run(builder)
    assert state["isDone"] is True
    assert state["output"] == ["hello a", "ok after 2", "hello c", "hello d"]


def test_an_event_in_the_same_batch_as_the_start_is_buffered_until_awaited(run):
    builder = Episodes("early_event", 0.1).episode(
        at(0),
        h.execution_started(at(0), "early_event", "fixture", "0.1"),
        h.event_raised(at(0), "go", json.dumps(json.dumps({"n": 1}))),
    )
    state = run(builder)
    assert state["isDone"] is False and leaves(state) == [(0, "sleep_sync")]

    builder.episode(at(1), h.task_completed(at(1), 0, json.dumps({"start": 0, "end": 1})))
    state = run(builder)
    assert state["isDone"] is True
    assert json.loads(state["output"]["event"]) == {"n": 1}


def test_an_episode_completing_a_wait_and_the_timer_together_picks_the_first_in_history(run):
    builder = start("race", {"racer": "event", "timeout": 5}).episode(
        at(5),
        h.event_raised(at(5), "approval", json.dumps(json.dumps("yes"))),
        h.timer_fired(at(5), 0, at(5)),
    )
    state = run(builder)

    assert state["isDone"] is True
    assert state["output"]["winner"] == "event"
