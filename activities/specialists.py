"""Activity `call_specialist`: one A2A call; agent failures are results, not exceptions.

The call carries the credential the agent's card asks for (voicea2a/agentauth.py), and a
`messageId` derived from the delegation step, so a retried or re-run activity sends the same
message and the agent acts on it once (agents/replay.py): a retried booking never books twice.

An agent whose card offers streaming is called with SendStreamingMessage, and this activity
stays with it until the task ends (at most `timeoutSeconds`, each event within
`silenceSeconds`); each status update with a message is published at once as an `agent.status`
event `working` (docs/a2a-client.md says why the activity streams rather than the orchestrator
polling GetTask).
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import time

import azure.durable_functions as df

from bindings import activity
from orchestrations.contract import CALL_SPECIALIST, SpecialistCall, SpecialistResult
from voicea2a import registry
from voicea2a.a2a import A2AError, A2AErrorKind, A2AProgress, parse_card, send_message
from voicea2a.agentauth import agent_credentials
from voicea2a.audit import pseudonym
from voicea2a.config import get_settings
from voicea2a.events import Event
from voicea2a.httpclient import http_client
from voicea2a.publisher import publish
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
    agent, attempt = call.get("agent") or "unknown", int(call.get("attempt") or 1)
    if attempt > 1:
        record_agent_retry(agent)
    started = time.perf_counter()
    # The activity's span is current: the A2A call's span is its child, and what agents receive.
    headers = {"x-correlation-id": call.get("correlationId") or ""}
    if call.get("traceparent"):
        headers["traceparent"] = call["traceparent"]
    live = LiveProgress(call)
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
            on_progress=live.report,
        )
    except A2AError as exc:
        if exc.kind is A2AErrorKind.AUTH_REFUSED:
            await registry.record_credential_refused(agent, exc.http_status or 401)
        elapsed_ms = _finished(agent, str(exc.kind), started, attempt)
        return {
            "state": "failed",
            "error": exc.reason,
            "kind": str(exc.kind),
            "retryable": exc.kind in RETRYABLE,
            "durationMs": elapsed_ms,
        }
    finally:
        await live.close()
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


class LiveProgress:
    """Publishes a streaming call's progress as `agent.status` `working` events, beside the
    stream and never holding it up: one publish at a time, in order; while one is out only the
    latest report waits (older ones are stale), and at most MAX_PROGRESS_EVENTS per call."""

    def __init__(self, call: SpecialistCall) -> None:
        self.call = call
        self.waiting: Event | None = None
        self.sending: asyncio.Task[None] | None = None
        self.queued = 0

    async def report(self, progress: A2AProgress) -> None:
        """Queue `progress` for publishing (returns at once)."""
        event = self._event(progress)
        if event is None or self.queued >= MAX_PROGRESS_EVENTS:
            return
        self.queued += 1
        self.waiting = event
        if self.sending is None or self.sending.done():
            self.sending = asyncio.create_task(self._send())

    async def close(self) -> None:
        """Let the event being published arrive (so it comes before the orchestrator's final
        status for this agent) within one publish's time limit; drop the one still waiting."""
        self.waiting = None
        if self.sending is None:
            return
        budget = get_settings().events_publish_timeout_seconds * 2
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.sending), budget)
        self.sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # never fails the call
            await self.sending

    async def _send(self) -> None:
        while self.waiting is not None:
            event, self.waiting = self.waiting, None
            await publish(event)  # never raises: an outage is logged and counted there

    def _event(self, progress: A2AProgress) -> Event | None:
        call = self.call
        # Outside a delegation (no conversation, no owner) nobody is listening.
        if not call.get("user") or not call.get("conversationId"):
            return None
        data: dict[str, object] = {"status": "working", "attempt": int(call.get("attempt") or 1)}
        if progress.text:
            data["message"] = progress.text[:PROGRESS_CHARS]
        return Event(
            type="agent.status",
            data=data,
            owner=call["user"],
            conversation_id=call["conversationId"],
            call_id=call.get("callId"),
            instance_id=call.get("instanceId"),
            agent=call.get("agent"),
            correlation_id=call.get("correlationId"),
        )
