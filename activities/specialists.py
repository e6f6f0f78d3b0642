"""Activity `call_specialist`: one A2A call; agent failures are results, not exceptions."""

import logging
import time
from typing import Any

import azure.durable_functions as df

from voicea2a import telemetry
from voicea2a.a2a import A2AError, A2AErrorKind, parse_card, send_message
from voicea2a.httpclient import http_client

bp = df.Blueprint()
log = logging.getLogger(__name__)
# An agent that answered badly will answer badly again; one that could not be reached may not.
RETRYABLE = {
    A2AErrorKind.TIMEOUT,
    A2AErrorKind.CONNECTION,
    A2AErrorKind.HTTP_STATUS,
    A2AErrorKind.RPC_ERROR,
    A2AErrorKind.MALFORMED,
}


@bp.activity_trigger(input_name="call")
@telemetry.activity
async def call_specialist(call: dict) -> dict[str, Any]:
    """Send the step's data to the agent (or continue its task) and report what came back."""
    agent, attempt = call.get("agent") or "unknown", int(call.get("attempt") or 1)
    if attempt > 1:
        telemetry.record_agent_retry(agent)
    started = time.perf_counter()
    # The activity's span is current: the A2A call's span is its child, and what agents receive.
    headers = {"x-correlation-id": call.get("correlationId") or ""}
    if call.get("traceparent"):
        headers["traceparent"] = call["traceparent"]
    try:
        result = await send_message(
            http_client(),
            parse_card(call["card"]),
            data=call["data"],
            task_id=call.get("taskId"),
            context_id=call.get("contextId"),
            timeout=call["timeoutSeconds"],
            max_bytes=call["maxBytes"],
            headers=headers,
        )
    except A2AError as exc:
        elapsed_ms = _finished(agent, str(exc.kind), started, attempt)
        return {
            "state": "failed",
            "error": exc.message,
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


def _finished(agent: str, outcome: str, started: float, attempt: int) -> float:
    """Record the call's duration by agent and outcome (the task state, or how it failed)."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    telemetry.record_agent_call(agent, outcome, elapsed_ms)
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
