"""An engine instance turned into a store record between episodes, and back at start-up."""

from __future__ import annotations

import json
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from devhost.durable import history as h
from devhost.durable.instance import Envelope, Instance, Leaf, RetryChain
from devhost.durable.store import InstanceRecord, StoredInstance

TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}


def capture(instance: Instance, *, deleted: bool = False) -> InstanceRecord:
    """What the store keeps of `instance`, copied now (the engine goes on changing it)."""
    if deleted:
        return InstanceRecord(instance.instance_id, instance.changes, deleted=True)
    state: dict[str, Any] = {
        "parent": list(instance.parent) if instance.parent else None,
        "parentExecution": instance.parent_execution,
        "nextId": instance.next_id,
        "leaves": [[leaf.action_type, leaf.name, leaf.task_id] for leaf in instance.leaves],
        "retryTasks": {str(k): _chain(c) for k, c in instance.retry_tasks.items()},
        "retryTimers": {str(k): _chain(c) for k, c in instance.retry_timers.items()},
        "timers": {str(k): h.timestamp(due) for k, due in instance.timer_due.items()},
        "customStatus": instance.custom_status,
        "inboxNext": instance.inbox_next,
        # Durable keeps a finished orchestrator Running until its timers fire: its output waits.
        "pendingOutput": instance.output_json if instance.status not in TERMINAL else None,
    }
    return InstanceRecord(
        instance_id=instance.instance_id,
        changes=instance.changes,
        execution=instance.execution,
        columns={
            "Name": instance.name,
            "RuntimeStatus": instance.status,
            "CreatedTime": h.timestamp(instance.created),
            "LastUpdatedTime": h.timestamp(instance.updated),
        },
        state=state,
        history=instance.history,
        history_count=len(instance.history),
        inbox=[(e.seq, e.execution, e.message) for e in instance.inbox],
        inbox_consumed=instance.inbox_consumed,
    )


def restore(stored: StoredInstance) -> Instance:
    """The engine instance a stored one describes (not yet resumed: no timers, no pump)."""
    state = stored.state
    columns = stored.columns
    for event in stored.history:
        event["IsPlayed"] = True  # what the next episode would mark anyway
    inbox = deque(Envelope(seq, execution, message) for seq, execution, message in stored.inbox)
    instance = Instance(
        instance_id=stored.instance_id,
        name=columns["Name"],
        input_json=_input_of(stored.history, inbox),
        created=_time(columns["CreatedTime"]),
        updated=_time(columns["LastUpdatedTime"]),
        parent=(state["parent"][0], int(state["parent"][1])) if state.get("parent") else None,
        parent_execution=int(state.get("parentExecution") or 0),
        status=columns["RuntimeStatus"],
        custom_status=state.get("customStatus"),
        execution=stored.execution,
        history=stored.history,
        inbox=inbox,
        next_id=int(state["nextId"]),
        leaves=[Leaf(kind, name, task_id) for kind, name, task_id in state["leaves"]],
        retry_tasks={int(k): _unchain(v) for k, v in state["retryTasks"].items()},
        retry_timers={int(k): _unchain(v) for k, v in state["retryTimers"].items()},
        timer_due={int(k): _time(v) for k, v in state["timers"].items()},
        inbox_next=int(state["inboxNext"]),
        inbox_consumed=stored.inbox_consumed,
        changes=stored.changes,
    )
    instance.output_json = _output_of(instance, state.get("pendingOutput"))
    return instance


def _chain(chain: RetryChain) -> dict[str, Any]:
    """A retry chain as JSON."""
    return {
        "action": chain.action,
        "maxAttempts": chain.max_attempts,
        "intervalMs": int(chain.interval.total_seconds() * 1000),
        "attempts": chain.attempts,
    }


def _unchain(data: dict[str, Any]) -> RetryChain:
    """A retry chain from its JSON."""
    return RetryChain(
        action=data["action"],
        max_attempts=int(data["maxAttempts"]),
        interval=timedelta(milliseconds=int(data["intervalMs"])),
        attempts=int(data["attempts"]),
    )


def _time(text: str) -> datetime:
    """A stored timestamp as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _input_of(history: list[dict[str, Any]], inbox: deque[Envelope]) -> str | None:
    """The execution's input: its ExecutionStarted, in history or still in the inbox."""
    events = [*history, *(envelope.message for envelope in inbox)]
    started = next((e for e in events if e["EventType"] == h.EventType.EXECUTION_STARTED), None)
    return started.get("Input") if started else None


def _output_of(instance: Instance, pending: str | None) -> str | None:
    """The output: the last ExecutionCompleted's result once finished, else the pending one."""
    if instance.status not in TERMINAL:
        return pending
    completed = [e for e in instance.history if e["EventType"] == h.EventType.EXECUTION_COMPLETED]
    return completed[-1].get("Result") if completed else json.dumps(None)
