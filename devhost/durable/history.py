"""Durable Task history events in the wire shape the Durable extension hands to the Python SDK."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any


class EventType(enum.IntEnum):
    """DTFx `EventType` values (Newtonsoft serialises the enum as its integer)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16


def timestamp(moment: datetime) -> str:
    """Format a UTC datetime as the host does in history (ISO 8601 with a Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(kind: EventType, moment: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    """One history event: the common fields plus the type-specific ones, PascalCase."""
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": timestamp(moment),
        **fields,
    }


def orchestrator_started(moment: datetime) -> dict[str, Any]:
    """The marker that opens an episode; its timestamp is the orchestrator's clock."""
    return event(EventType.ORCHESTRATOR_STARTED, moment)


def orchestrator_completed(moment: datetime) -> dict[str, Any]:
    """The marker that closes an episode."""
    return event(EventType.ORCHESTRATOR_COMPLETED, moment)


def execution_started(
    moment: datetime,
    name: str,
    instance_id: str,
    input_json: str | None,
    parent_instance_id: str | None = None,
) -> dict[str, Any]:
    """The start of an execution; the SDK reads `Version`, so it is always present."""
    parent = (
        {"OrchestrationInstance": {"InstanceId": parent_instance_id}}
        if parent_instance_id
        else None
    )
    return event(
        EventType.EXECUTION_STARTED,
        moment,
        Name=name,
        Version="",
        Input=input_json,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": instance_id},
        ParentInstance=parent,
        Tags=None,
    )


def task_scheduled(
    moment: datetime, task_id: int, name: str, input_json: str | None
) -> dict[str, Any]:
    """An activity was scheduled with sequence id `task_id`."""
    return event(EventType.TASK_SCHEDULED, moment, task_id, Name=name, Version="", Input=input_json)


def task_completed(moment: datetime, task_id: int, result_json: str | None) -> dict[str, Any]:
    """An activity returned; `result_json` is its JSON-encoded result."""
    return event(EventType.TASK_COMPLETED, moment, TaskScheduledId=task_id, Result=result_json)


def task_failed(moment: datetime, task_id: int, reason: str, details: str | None) -> dict[str, Any]:
    """An activity raised."""
    return event(
        EventType.TASK_FAILED, moment, TaskScheduledId=task_id, Reason=reason, Details=details
    )


def timer_created(moment: datetime, timer_id: int, fire_at: datetime) -> dict[str, Any]:
    """A durable timer was created."""
    return event(EventType.TIMER_CREATED, moment, timer_id, FireAt=timestamp(fire_at))


def timer_fired(moment: datetime, timer_id: int, fire_at: datetime) -> dict[str, Any]:
    """A durable timer fired."""
    return event(EventType.TIMER_FIRED, moment, TimerId=timer_id, FireAt=timestamp(fire_at))


def event_raised(moment: datetime, name: str, input_json: str | None) -> dict[str, Any]:
    """An external event arrived."""
    return event(EventType.EVENT_RAISED, moment, Name=name, Input=input_json)


def sub_orchestration_created(
    moment: datetime, task_id: int, name: str, instance_id: str, input_json: str | None
) -> dict[str, Any]:
    """A sub-orchestration was started with sequence id `task_id`."""
    return event(
        EventType.SUB_ORCHESTRATION_CREATED,
        moment,
        task_id,
        Name=name,
        Version="",
        InstanceId=instance_id,
        Input=input_json,
    )


def sub_orchestration_completed(
    moment: datetime, task_id: int, result_json: str | None
) -> dict[str, Any]:
    """A sub-orchestration completed."""
    return event(
        EventType.SUB_ORCHESTRATION_COMPLETED, moment, TaskScheduledId=task_id, Result=result_json
    )


def sub_orchestration_failed(
    moment: datetime, task_id: int, reason: str, details: str | None
) -> dict[str, Any]:
    """A sub-orchestration failed."""
    return event(
        EventType.SUB_ORCHESTRATION_FAILED,
        moment,
        TaskScheduledId=task_id,
        Reason=reason,
        Details=details,
    )


def execution_completed(moment: datetime, status: str, result_json: str | None) -> dict[str, Any]:
    """The execution ended (Completed, Failed or Terminated)."""
    return event(
        EventType.EXECUTION_COMPLETED, moment, OrchestrationStatus=status, Result=result_json
    )
