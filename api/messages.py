"""/api/messages: the voice tool call in, the specialists' answer out (or a status URL)."""

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from api._http import read_body, signed_in
from bindings import http_endpoint, json_response
from orchestrations.contract import (
    ORCHESTRATOR,
    TRANSIENT_FAILURE,
    Answer,
    DelegationJob,
    answer_of,
    follow_ups_of,
)
from voicea2a import history, registry
from voicea2a.config import get_settings
from voicea2a.errors import InternalError, NotFound, UpstreamUnavailable
from voicea2a.messages import (
    check_agent_choices,
    instance_id_for,
    is_instance_id,
    request_body,
    url_segment,
)
from voicea2a.playbook import get_playbook
from voicea2a.telemetry.context import current_correlation_id
from voicea2a.telemetry.spans import current_traceparent

bp = df.Blueprint()
# A voice turn is waiting: poll often at first (the SDK's default is every second).
FIRST_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 0.1
INTERIM = "I'm checking that with our specialists now; it will take a moment."
RUNNING = {"Pending", "Running", "ContinuedAsNew"}
# A call id whose delegation ended like this is started afresh when posted again (Voice Live
# retries a tool call with the same id); a completed or running one is never started twice.
RESTARTABLE = {"Failed", "Terminated", "Canceled"}


def instance_input(status: Any) -> DelegationJob | dict[str, Any]:
    """The orchestration input from a status (the host may hand it back as JSON text; an
    instance of another orchestrator has another input, hence the plain dict)."""
    value = status.input_
    return json.loads(value) if isinstance(value, str) else (value or {})


@bp.route(route="messages", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@http_endpoint
async def post_message(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Start (once) the delegation for this call and wait briefly for its answer."""
    principal = await signed_in(req)
    settings = get_settings()
    message = read_body(req, request_body(get_playbook()))
    if message.agents:  # the voice model chose: only admitted agents, each once
        admitted = [
            r.name for r in await registry.list_agents() if r.admission == registry.ADMITTED
        ]
        check_agent_choices(message.agents, admitted, settings.delegation.max_agents_per_request)
    conversation_id = message.conversation_id or uuid.uuid4().hex
    call_id = message.call_id or uuid.uuid4().hex
    instance_id = instance_id_for(principal.user_id, conversation_id, call_id)

    created = await history.ensure_conversation(
        principal.user_id, conversation_id, message.request[:80]
    )
    if not _running_or_done(await client.get_status(url_segment(instance_id))):
        job: DelegationJob = {
            "user": principal.user_id,
            "conversationId": conversation_id,
            "callId": call_id,
            "correlationId": current_correlation_id(),
            "traceparent": current_traceparent(),
            "startedAt": datetime.now(UTC).isoformat(),
            "request": message.to_json(),
            "limits": settings.delegation.to_json(),
            # Announced by the orchestration, never waiting on Web PubSub here.
            "newConversation": created,
        }
        try:
            await client.start_new(ORCHESTRATOR, url_segment(instance_id), job)
        except Exception:
            # A concurrent identical post may have started it first: that is the same turn.
            if not _running_or_done(await client.get_status(url_segment(instance_id))):
                raise UpstreamUnavailable("The delegation could not be started.") from None

    answer = await wait_for(client, instance_id, settings.delegation.sync_wait_seconds)
    ids = {"instanceId": instance_id, "conversationId": conversation_id, "callId": call_id}
    if answer is not None:
        return json_response({**answer, **ids})
    return json_response(
        {
            **ids,
            "status": "running",
            "interim": INTERIM,
            "statusUrl": f"/api/messages/{url_segment(instance_id)}",
        },
        status=202,
    )


def _state(status: DurableOrchestrationStatus) -> str:
    """The instance's runtime status name (`Running`, `Completed`, ...)."""
    runtime = status.runtime_status
    return runtime.value if runtime is not None else "Unknown"


def _running_or_done(status: DurableOrchestrationStatus | None) -> bool:
    """Whether this call id's delegation exists and is not one to start afresh."""
    # A status is falsy when no such instance exists (the SDK's __bool__).
    return status is not None and bool(status) and _state(status) not in RESTARTABLE


def _transient(status: Any) -> bool:
    """Whether a failed delegation failed for a passing cause (orchestrations/delegation.py)."""
    return TRANSIENT_FAILURE in str(status.output or "")


async def wait_for(
    client: df.DurableOrchestrationClient, instance_id: str, seconds: float
) -> Answer | None:
    """The answer as soon as the orchestration shows it, or None after `seconds`; a delegation
    that failed for a passing cause is `upstream_unavailable` (retryable: posting the same call
    again starts it afresh), any other failure an internal error."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    interval = FIRST_POLL_SECONDS
    while True:
        status = await client.get_status(url_segment(instance_id))
        if status:
            state = _state(status)
            if state == "Completed":
                return answer_of(status.output)
            # The answer is shown before the turn is recorded: no need to wait for that.
            if (status.custom_status or {}).get("answer"):
                return status.custom_status["answer"]
            if state not in RUNNING:
                if _transient(status):
                    raise UpstreamUnavailable(
                        "The specialists could not be reached just now; send the same call again."
                    )
                raise InternalError(f"The delegation ended as {state}.")
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(min(interval, max(0.0, deadline - loop.time())))
        # Quick first polls for quick answers, then steady ones: each poll reads the task hub.
        interval = min(interval * 1.5, MAX_POLL_SECONDS)


@bp.route(route="messages/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@http_endpoint
async def get_message(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Progress per agent, and the answer when done; only the owner may look (else 404)."""
    principal = await signed_in(req)
    instance_id = req.route_params["instanceId"]
    if not is_instance_id(instance_id):
        raise NotFound("No such message.")
    status = await client.get_status(url_segment(instance_id), show_input=True)
    if not status or instance_input(status).get("user") != principal.user_id:
        raise NotFound("No such message.")
    state = _state(status)
    body: dict[str, Any] = {
        "instanceId": instance_id,
        "conversationId": instance_input(status).get("conversationId"),
        "callId": instance_input(status).get("callId"),
        "status": "running" if state in RUNNING else state.lower(),
        "progress": status.custom_status or {},
    }
    shown = body["progress"].pop("answer", None)
    shown_follow_ups = body["progress"].pop("followUps", None)
    answer = answer_of(status.output) if state == "Completed" else shown
    if answer:
        body.update(answer)
    follow_ups = follow_ups_of(status.output) if state == "Completed" else shown_follow_ups
    if follow_ups:
        body["followUps"] = follow_ups
    if state == "Failed":
        body["retryable"] = _transient(status)
    return json_response(body)
