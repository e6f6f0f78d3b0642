"""The live events the browser receives: one envelope, a type, and who may see it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EVENT_TYPES = (
    "conversation.created",
    "task.created",
    "task.updated",
    "agent.status",
    "approval.requested",
    "approval.resolved",
    "message",
    "registry.updated",
)
OPS_GROUP = "ops"
# Supervisors act on approvals, so those also go to the group every supervisor joins.
OPS_TYPES = frozenset({"approval.requested", "approval.resolved"})
# The agent network is the same for everyone: registry changes go to every connection.
BROADCAST_TYPES = frozenset({"registry.updated"})


@dataclass(frozen=True)
class Event:
    """One event and its audience: the conversation's owner, and the ops group where it applies."""

    type: str
    data: dict[str, Any]
    owner: str | None = field(default=None, repr=False)
    conversation_id: str | None = None
    call_id: str | None = None
    instance_id: str | None = None
    agent: str | None = None
    correlation_id: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")
        if self.type not in BROADCAST_TYPES and (not self.owner or not self.conversation_id):
            raise ValueError(f"a {self.type} event needs its conversation and owner")

    @property
    def to_ops(self) -> bool:
        """True when supervisors should see it too."""
        return self.type in OPS_TYPES

    @property
    def to_everyone(self) -> bool:
        """True when every connection should see it."""
        return self.type in BROADCAST_TYPES

    def envelope(self) -> dict[str, Any]:
        """The JSON the browser receives (docs/events.schema.json); never the owner's id."""
        body: dict[str, Any] = {
            "type": self.type,
            "id": self.id,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "conversationId": self.conversation_id,
            "data": self.data,
        }
        optional = {
            "callId": self.call_id,
            "instanceId": self.instance_id,
            "agent": self.agent,
            "correlationId": self.correlation_id,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return body
