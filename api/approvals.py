"""/api/approvals: the agents' questions waiting for a supervisor, who approves, rejects or
replies in words."""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from api._http import read_body, signed_in
from bindings import http_endpoint, json_response
from orchestrations.contract import (
    APPROVAL_EVENT,
    AWAITING_APPROVAL,
    ORCHESTRATOR,
    ApprovalDecision,
    read_custom_status,
)
from voicea2a.bodies import APPROVAL_DECISION
from voicea2a.errors import Conflict, NotFound
from voicea2a.instances import list_instances
from voicea2a.messages import is_instance_id, url_segment

if TYPE_CHECKING:
    import httpx

bp = df.Blueprint()
logger = logging.getLogger(__name__)

MAX_APPROVALS = 100
# What GET /api/approvals shows of a pending approval: the approval.requested event's data and
# ids, as the ops group already receives them (never the owner's user id). Typed as literals:
# they index the PendingApproval TypedDict.
APPROVAL_FIELDS: tuple[Literal["reason", "customerId", "expiresAt", "requestedAt"], ...] = (
    "reason",
    "customerId",
    "expiresAt",
    "requestedAt",
)
# `agent` is absent from approvals requested before any agent could ask (only dispatch did).
OPTIONAL_FIELDS: tuple[Literal["agent", "conversationId", "callId"], ...] = (
    "agent",
    "conversationId",
    "callId",
)


@bp.route(route="approvals/{instanceId}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@http_endpoint
async def approve(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Deliver the decision, or the reply, to a delegation waiting for one."""
    supervisor = await signed_in(req, "supervisor")
    decision = read_body(req, APPROVAL_DECISION)
    instance_id = req.route_params["instanceId"]
    if not is_instance_id(instance_id):
        raise NotFound("No such delegation.")
    status = await client.get_status(url_segment(instance_id))
    if not status:
        raise NotFound("No such delegation.")
    if pending_approval(status, datetime.now(UTC)) is None:
        raise Conflict("This request is no longer waiting for a supervisor.")
    event: ApprovalDecision = {
        "approve": bool(decision.approve),
        "note": decision.note,
        "by": supervisor.user_id,
    }
    if decision.reply is not None:
        event["reply"] = decision.reply
    await client.raise_event(url_segment(instance_id), APPROVAL_EVENT, event)
    accepted: dict[str, Any] = {"instanceId": instance_id}
    accepted.update(
        {"reply": True} if decision.reply is not None else {"approve": bool(decision.approve)}
    )
    return json_response(accepted, status=202)


def pending_approval(status: Any, now: datetime) -> dict[str, Any] | None:
    """The approval a delegation instance is waiting for, as listed; None when it waits for none
    (another orchestrator, another stage, no details, or already past its deadline)."""
    if getattr(status, "name", None) != ORCHESTRATOR:
        return None
    custom = read_custom_status(status.custom_status)
    if custom is None or custom.get("stage") != AWAITING_APPROVAL:
        return None
    approval = custom.get("approval")
    if not isinstance(approval, dict) or not all(
        isinstance(approval.get(name), str) for name in APPROVAL_FIELDS
    ):
        return None
    try:
        expires = _utc(approval["expiresAt"])
        _utc(approval["requestedAt"])
    except ValueError:
        return None
    if expires <= now:
        return None  # the timer has won: it is timing out, no decision can count any more
    item = {"instanceId": status.instance_id}
    item.update({name: approval[name] for name in APPROVAL_FIELDS})
    item.update(
        {name: approval[name] for name in OPTIONAL_FIELDS if isinstance(approval.get(name), str)}
    )
    return item


def pending_approvals(
    statuses: Iterable[Any], now: datetime, limit: int = MAX_APPROVALS
) -> list[dict[str, Any]]:
    """The pending approvals among `statuses`, oldest request first, at most `limit`."""
    items = [item for item in (pending_approval(s, now) for s in statuses) if item is not None]
    items.sort(key=lambda item: (_utc(item["requestedAt"]), item["instanceId"]))
    return items[:limit]


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def running_instances(
    client: df.DurableOrchestrationClient, http: "httpx.AsyncClient | None" = None
) -> list[DurableOrchestrationStatus]:
    """Every Running orchestration instance (custom status, no input)."""
    query = {"runtimeStatus": "Running", "showInput": "false"}
    return await list_instances(client, query, "the pending approvals", http)


@bp.route(route="approvals", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@http_endpoint
async def list_approvals(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """The agents' questions still waiting for a supervisor, oldest first."""
    await signed_in(req, "supervisor")
    statuses = await running_instances(client)
    return json_response({"approvals": pending_approvals(statuses, datetime.now(UTC))})
