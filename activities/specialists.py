"""Activity `call_specialist`: one A2A call; agent failures are results, not exceptions.

The call carries the credential the agent's card asks for (voicea2a/agentauth.py), and a
`messageId` derived from the delegation step, so a retried or re-run activity sends the same
message and the agent acts on it once (agents/replay.py): a retried booking never books twice.
"""

import hashlib
import json
import logging
import time

import azure.durable_functions as df

from bindings import activity
from orchestrations.contract import CALL_SPECIALIST, SpecialistCall, SpecialistResult
from voicea2a import registry
from voicea2a.a2a import A2AError, A2AErrorKind, parse_card, send_message
from voicea2a.agentauth import agent_credentials
from voicea2a.audit import pseudonym
from voicea2a.httpclient import http_client
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
    return {
        "state": result.state,
        "text": result.text,
        "data": result.data,
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
