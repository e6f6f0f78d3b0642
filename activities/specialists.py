"""Activity `call_specialist`: one A2A call; agent failures are results, not exceptions."""

import time
from typing import Any

import azure.durable_functions as df

from voicea2a.a2a import A2AError, A2AErrorKind, parse_card, send_message
from voicea2a.httpclient import http_client

bp = df.Blueprint()
# An agent that answered badly will answer badly again; one that could not be reached may not.
RETRYABLE = {
    A2AErrorKind.TIMEOUT,
    A2AErrorKind.CONNECTION,
    A2AErrorKind.HTTP_STATUS,
    A2AErrorKind.RPC_ERROR,
    A2AErrorKind.MALFORMED,
}


@bp.activity_trigger(input_name="call")
async def call_specialist(call: dict[str, Any]) -> dict[str, Any]:
    """Send the step's data to the agent (or continue its task) and report what came back."""
    started = time.perf_counter()
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
        return {
            "state": "failed",
            "error": exc.message,
            "kind": str(exc.kind),
            "retryable": exc.kind in RETRYABLE,
            "durationMs": (time.perf_counter() - started) * 1000,
        }
    return {
        "state": result.state,
        "text": result.text,
        "data": result.data,
        "taskId": result.task_id,
        "contextId": result.context_id,
        "error": result.error,
        "retryable": False,
        "durationMs": (time.perf_counter() - started) * 1000,
    }
