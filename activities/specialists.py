"""Activity `call_specialist`: one A2A call; agent failures are results, not exceptions.

The call carries the credential the agent's card asks for (voicea2a/agentauth.py), and a
`messageId` derived from the delegation step, so a retried or re-run activity sends the same
message and the agent acts on it once (agents/replay.py): a retried booking never books twice.

An agent whose card offers streaming is called with SendStreamingMessage, and this activity
stays with it until the task ends (at most `timeoutSeconds`, each event within
`silenceSeconds`); each status update with a message is published at once as an `agent.status`
event `working` (docs/a2a-client.md says why the activity streams rather than the orchestrator
polling GetTask).

The activity announces the agent's outcome itself (`agent.status` `completed`,
`input-required`, or `failed` when a retry would not help), after the `started` event the
orchestrator handed it and any progress, on one lane: no publishing activity, and no
orchestrator episode, per agent. It returns once `started` is out (activities/publish.py
`carried_out`: the next stage's events come after it) and leaves the outcome sending. What the
orchestrator decides (a retry, a time-out) it announces itself.
"""

import dataclasses
import hashlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime

import azure.durable_functions as df

from activities.publish import carried_lane, carried_out
from bindings import activity
from orchestrations.contract import CALL_SPECIALIST, SpecialistCall, SpecialistResult
from voicea2a import registry
from voicea2a.a2a import A2AError, A2AErrorKind, A2AProgress, parse_card, send_message
from voicea2a.agentauth import agent_credentials
from voicea2a.audit import pseudonym
from voicea2a.compose import AgentOutcome
from voicea2a.events import Event
from voicea2a.httpclient import http_client
from voicea2a.publisher import EventLane
from voicea2a.telemetry.metrics import record_agent_call, record_agent_retry

bp = df.Blueprint()
log = logging.getLogger(__name__)
# An agent that answered badly will answer badly again; one that could not be reached may not.
# A refused credential (401/403) or one we cannot produce is not retried either.
RETRYABLE = {
    A2AErrorKind.TIMEOUT,
    A2AErrorKind.CONNECTION,
    A2AErrorKind.HTTP_STATUS,
    A2AErrorKind.RPC_ERROR,
    A2AErrorKind.MALFORMED,
}
# The progress text an event carries (docs/events.schema.json agentStatus.message).
PROGRESS_CHARS = 500
# Most progress events of one call: a chatty agent must not flood Web PubSub.
MAX_PROGRESS_EVENTS = 50


@bp.activity_trigger(input_name="call", activity=CALL_SPECIALIST)
@activity
async def call_specialist(call: SpecialistCall) -> SpecialistResult:
    """Send the step's data to the agent (or continue its task) and report what came back."""
    lane = carried_lane(call, MAX_PROGRESS_EVENTS)
    announce = Announcer(call, lane)
    try:
        result = await _exchange(call, announce)
        await carried_out(lane)  # `started` before the outcome reaches the orchestrator
        # A retryable failure is the orchestrator's to announce: it decides what comes next.
        final = not result["retryable"]
        result["announced"] = final and announce.outcome(result["state"], result["error"])
        return result
    finally:
        lane.close()  # closed with the outcome already, unless the call raised


async def _exchange(call: SpecialistCall, announce: "Announcer") -> SpecialistResult:
    """The A2A exchange of `call_specialist` (its progress offered on `announce`'s lane)."""
    agent, attempt = call.get("agent") or "unknown", int(call.get("attempt") or 1)
    if attempt > 1:
        record_agent_retry(agent)
    started = time.perf_counter()
    # The activity's span is current: the A2A call's span is its child, and what agents receive.
    headers = {"x-correlation-id": call.get("correlationId") or ""}
    if call.get("traceparent"):
        headers["traceparent"] = call["traceparent"]
    try:
        result = await send_message(
            http_client(),
            parse_card(call["card"]),
            text=call.get("text"),
            context=call.get("context"),
            data=call["data"],
            task_id=call.get("taskId"),
            context_id=call.get("contextId"),
            timeout=call["timeoutSeconds"],
            max_bytes=call["maxBytes"],
            headers=headers,
            credentials=agent_credentials(),
            message_id=step_message_id(call),
            metadata={"onBehalfOf": pseudonym(call["user"])} if call.get("user") else None,
            silence=call.get("silenceSeconds"),
            on_progress=announce.progress,
        )
    except A2AError as exc:
        if exc.kind is A2AErrorKind.AUTH_REFUSED:
            await registry.record_credential_refused(agent, exc.http_status or 401)
        return {
            "state": "failed",
            "error": exc.reason,
            "kind": str(exc.kind),
            "retryable": exc.kind in RETRYABLE,
            "durationMs": _finished(agent, str(exc.kind), started, attempt),
        }
    return {
        "state": result.state,
        "text": result.text,
        "data": result.data,
        "parts": [part.to_json() for part in result.parts],
        "taskId": result.task_id,
        "contextId": result.context_id,
        "error": result.error,
        "retryable": False,
        "durationMs": _finished(agent, result.state, started, attempt),
    }


def step_message_id(call: SpecialistCall) -> str | None:
    """The same id for every attempt and re-run of one delegation step (instance, agent, the
    task it continues, what it sends); None outside a delegation (a new id per call)."""
    if not call.get("instanceId"):
        return None
    step = [call["instanceId"], call.get("agent"), call.get("taskId"), call.get("data")]
    for words in ("text", "context"):  # kept out when absent: data-only steps keep their ids
        if call.get(words) is not None:
            step.append(call[words])
    digest = hashlib.sha256(json.dumps(step, sort_keys=True, default=str).encode()).hexdigest()
    return f"step-{digest[:32]}"


def _finished(agent: str, outcome: str, started: float, attempt: int) -> float:
    """Record the call's duration by agent and outcome (the task state, or how it failed)."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    record_agent_call(agent, outcome, elapsed_ms)
    log.log(
        logging.INFO if outcome in ("completed", "input-required") else logging.WARNING,
        "call to agent %s: %s in %.0f ms (attempt %d)",
        agent,
        outcome,
        elapsed_ms,
        attempt,
        extra={
            "event": "agent.call",
            "outcome": outcome,
            "durationMs": round(elapsed_ms, 1),
            "attempt": attempt,
        },
    )
    return elapsed_ms


class Announcer:
    """This call's `agent.status` events, on one lane in order (voicea2a.publisher.EventLane):
    the events the orchestrator handed over (`started`), the stream's progress as `working`
    (the latest only while one is out, at most MAX_PROGRESS_EVENTS), then the outcome."""

    def __init__(self, call: SpecialistCall, lane: EventLane) -> None:
        self.call = call
        self.lane = lane

    async def progress(self, progress: A2AProgress) -> None:
        """Offer a streaming agent's progress for publishing (returns at once)."""
        data: dict[str, object] = {"status": "working", "attempt": self._attempt}
        if progress.text:
            data["message"] = progress.text[:PROGRESS_CHARS]
        event = self._event(data)
        if event is not None:
            self.lane.offer(event)

    def outcome(self, state: str, error: str | None) -> bool:
        """Close the lane with the outcome's event, unless the step's deadline has passed (the
        orchestrator says it timed out then); whether the outcome was announced."""
        deadline = self.call.get("deadline")
        late = deadline is not None and datetime.now(UTC) >= datetime.fromisoformat(deadline)
        agent, skill = self.call.get("agent") or "unknown", self.call.get("skill") or ""
        outcome = AgentOutcome.ended(agent, skill, state, error)
        # The same id for a re-run of this attempt: the page shows it once.
        step = f"{step_message_id(self.call)}/{self._attempt}"
        event = None if late else self._event(outcome.status_event(), _event_id(step))
        self.lane.close(event)
        return event is not None

    @property
    def _attempt(self) -> int:
        return int(self.call.get("attempt") or 1)

    def _event(self, data: dict[str, object], event_id: str | None = None) -> Event | None:
        call = self.call
        # Outside a delegation (no conversation, no owner) nobody is listening.
        if not call.get("user") or not call.get("conversationId"):
            return None
        event = Event(
            type="agent.status",
            data=data,
            owner=call["user"],
            conversation_id=call["conversationId"],
            call_id=call.get("callId"),
            instance_id=call.get("instanceId"),
            agent=call.get("agent"),
            correlation_id=call.get("correlationId"),
        )
        return dataclasses.replace(event, id=event_id) if event_id else event


def _event_id(step: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:voicea2a:outcome:{step}").hex
