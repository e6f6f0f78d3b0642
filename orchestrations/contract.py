"""The delegation contract: every name and JSON shape that crosses a Durable boundary.

The HTTP functions (api/), the orchestration (orchestrations/) and the activities (activities/)
meet here and nowhere else: none of them imports another's helpers. The shapes are TypedDicts,
not classes, because they travel as plain JSON (the Durable SDK serialises dicts) and because the
Python worker accepts a TypedDict class as an activity parameter's annotation where it refuses a
generic such as `dict[str, Any]`. Shapes the library builds (`Limits`, `Answer`) are
declared beside the code that builds them and re-exported: voicea2a imports nothing of the app.

Orchestrator code imports this module: it must stay free of I/O at import.
"""

import json
from typing import Any, Final, NotRequired, TypedDict, cast

from voicea2a.a2a import PartJson
from voicea2a.compose import AnswerJson as Answer
from voicea2a.config import LimitsJson as Limits
from voicea2a.history import TurnJson

__all__ = [
    "ACTIVITIES",
    "ANSWERED",
    "APPROVAL_EVENT",
    "AWAITING_APPROVAL",
    "CALL_SPECIALIST",
    "DIAGNOSING",
    "DISPATCHING",
    "DONE",
    "ORCHESTRATOR",
    "PLANNING",
    "PLAN_DELEGATION",
    "PUBLISH_EVENTS",
    "RECORD_TURN",
    "STAGES",
    "Answer",
    "ApprovalDecision",
    "CarriedEvents",
    "CustomStatus",
    "DelegationJob",
    "DelegationOutput",
    "EventBatchInput",
    "Limits",
    "PendingApproval",
    "PlanInput",
    "PlanResult",
    "QueuedEvent",
    "RecordInput",
    "SpecialistCall",
    "SpecialistResult",
    "TraceFields",
    "TurnRecord",
    "TRANSIENT_FAILURE",
    "answer_of",
    "follow_ups_of",
    "pending_turn",
    "read_custom_status",
]

# --- names ----------------------------------------------------------------------------------

ORCHESTRATOR: Final = "delegation"
PLAN_DELEGATION: Final = "plan_delegation"
CALL_SPECIALIST: Final = "call_specialist"
PUBLISH_EVENTS: Final = "publish_events"
RECORD_TURN: Final = "record_turn"
ACTIVITIES: Final = (PLAN_DELEGATION, CALL_SPECIALIST, PUBLISH_EVENTS, RECORD_TURN)
# The external event a supervisor's decision is raised as (POST /api/approvals/{id}).
APPROVAL_EVENT: Final = "approval"

# The stages the custom status shows, in the order a delegation may go through them.
PLANNING: Final = "planning"
DIAGNOSING: Final = "diagnosing"
DISPATCHING: Final = "dispatching"
AWAITING_APPROVAL: Final = "awaiting-approval"
ANSWERED: Final = "answered"
DONE: Final = "done"
STAGES: Final = (PLANNING, DIAGNOSING, DISPATCHING, AWAITING_APPROVAL, ANSWERED, DONE)

# --- the orchestration's input ----------------------------------------------------------------


class DelegationJob(TypedDict):
    """The orchestration input, built by POST /api/messages (api/messages.py)."""

    user: str
    conversationId: str
    callId: str
    correlationId: str | None
    traceparent: str | None
    startedAt: str  # ISO 8601 with an offset: when the POST arrived
    request: dict[str, Any]  # MessageRequest.to_json()
    limits: Limits
    # The POST created the conversation: the orchestration announces it (conversation.created).
    newConversation: NotRequired[bool]


class TraceFields(TypedDict):
    """What every activity input carries so its logs and span join the delegation's
    (orchestrations/steps.py `trace_fields`, bindings.activity)."""

    correlationId: str | None
    traceparent: str
    conversationId: str
    callId: str
    instanceId: str
    user: str


# --- activities -------------------------------------------------------------------------------


class QueuedEvent(TypedDict):
    """One event of the delegation as the orchestrator queues it (voicea2a.events.Event)."""

    type: str
    id: str
    time: str
    owner: str
    conversationId: str
    callId: str | None
    instanceId: str
    correlationId: str | None
    agent: str | None
    data: dict[str, Any]


class CarriedEvents(TypedDict, total=False):
    """Events the orchestrator queued before scheduling an activity, handed to it to publish
    beside its own work: no activity (and no orchestrator episode) of their own
    (orchestrations/steps.py `EventBatch`)."""

    events: list[QueuedEvent]


class PlanInput(DelegationJob, CarriedEvents):
    """`plan_delegation` input: the job and its instance id."""

    instanceId: str


class PlanResult(TypedDict):
    """`plan_delegation` output: the plan, the cards of the agents it names, who is verified."""

    plan: dict[str, Any]  # Plan.to_json()
    cards: dict[str, dict[str, Any]]  # agent name -> its raw card
    verifiedCustomerId: str | None
    identity: str  # fingerprint of the identity this turn may verify, or ""


class SpecialistCall(TraceFields, CarriedEvents):
    """`call_specialist` input: one A2A call (a new task, or the continuation of one)."""

    agent: str
    skill: str
    card: dict[str, Any]
    data: dict[str, Any]
    text: str | None  # a text part, when the agent is told something in words
    context: str | None  # earlier turns of the conversation, a text part before `text`
    taskId: str | None
    contextId: str | None
    attempt: int
    timeoutSeconds: float  # the whole call (a streamed one included)
    maxBytes: int  # the whole reply (every event of a stream together)
    # A streaming agent (its card offers it) sending no event for this long has timed out.
    silenceSeconds: NotRequired[float]
    # When the orchestrator stops waiting for this step (ISO 8601): an outcome that comes later
    # is the orchestrator's to announce (timed out), not the activity's.
    deadline: NotRequired[str]


class SpecialistResult(TypedDict):
    """`call_specialist` output: what the agent answered, or how the call failed."""

    state: str  # an A2A task state, or "failed"
    error: str | None
    retryable: bool
    durationMs: float
    # Only when the agent answered:
    text: NotRequired[str]
    data: NotRequired[dict[str, Any]]
    taskId: NotRequired[str | None]
    contextId: NotRequired[str | None]
    # Every part the agent sent, in order (a file sent inline: its size, never its bytes).
    parts: NotRequired[list[PartJson]]
    # Only when the call failed:
    kind: NotRequired[str]  # an A2AErrorKind
    # The activity published the outcome's `agent.status` event itself (a final outcome, before
    # the step's deadline); absent or false, the orchestrator announces what it decided.
    announced: NotRequired[bool]


class EventBatchInput(TraceFields):
    """`publish_events` input: the events queued since the last publish, in order."""

    events: list[QueuedEvent]


class TurnRecord(TurnJson):
    """The turn as the history stores it (voicea2a.history.TurnJson), with the rest of the
    trace fields."""

    correlationId: str | None
    traceparent: str
    callId: str


class RecordInput(TurnRecord, CarriedEvents):
    """`record_turn` input: the turn, and the events that announce its answer."""


# --- the orchestration's output --------------------------------------------------------------

# Starts the failure message of a delegation that failed for a cause worth retrying (storage
# unreachable while planning): the API answers `retryable: true`, and a POST of the same call id
# starts a fresh attempt.
TRANSIENT_FAILURE: Final = "transient:"


class DelegationOutput(TypedDict):
    """The orchestration's output: the answer, and the turn itself while the history could not
    take it (jobs/reconcile_history.py records it later)."""

    answer: Answer
    # What the delegation said later, once a person had answered an agent (in order).
    followUps: NotRequired[list[Answer]]
    historyPending: NotRequired[TurnRecord]


def _as_handed_over(value: object) -> object:
    """A value a host hands over, as a dict or JSON text, decoded (None if the text is not
    JSON)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def _field(output: object, name: str) -> dict[str, Any] | None:
    output = _as_handed_over(output)
    value = output.get(name) if isinstance(output, dict) else None
    return value if isinstance(value, dict) else None


def answer_of(output: object) -> Answer | None:
    """The answer in a delegation's output, or None if the output is not one."""
    return cast(Answer | None, _field(output, "answer"))


def follow_ups_of(output: object) -> list[Answer]:
    """The follow-ups in a delegation's output (none if the output is not one)."""
    output = _as_handed_over(output)
    found = output.get("followUps") if isinstance(output, dict) else None
    items = found if isinstance(found, list) else []
    return [cast(Answer, item) for item in items if isinstance(item, dict)]


def pending_turn(output: object) -> TurnRecord | None:
    """The turn a completed delegation kept because the history could not take it, if any."""
    return cast(TurnRecord | None, _field(output, "historyPending"))


# --- the external event and the custom status -------------------------------------------------


class ApprovalDecision(TypedDict):
    """The `approval` event's data: a supervisor's decision, or (`reply`) their answer in words
    to the agent's question."""

    approve: bool
    note: str
    by: str
    reply: NotRequired[str]


class PendingApproval(TypedDict):
    """The approval a delegation waits for, as the custom status shows it (never the owner)."""

    agent: NotRequired[str]  # whose question it is (absent before any agent but dispatch asked)
    reason: str
    expiresAt: str
    customerId: str
    requestedAt: str
    conversationId: str | None
    callId: str | None


class CustomStatus(TypedDict):
    """The instance's custom status (orchestrations/steps.py `Progress`): the stage, each
    agent's state, the pending approval while awaiting it, and the answer once composed."""

    stage: str  # one of STAGES
    agents: dict[str, str]
    approval: NotRequired[PendingApproval]
    answer: NotRequired[Answer]
    followUps: NotRequired[list[Answer]]


def read_custom_status(value: object) -> CustomStatus | None:
    """A custom status as a host hands it over (a dict, or JSON text), or None if it is not one."""
    value = _as_handed_over(value)
    if not isinstance(value, dict):
        return None
    return cast(CustomStatus, value)  # its fields are checked where they are read
