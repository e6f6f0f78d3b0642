"""/api/approvals: a supervisor approves or rejects a technician dispatch."""

from typing import Any

import azure.durable_functions as df
import azure.functions as func

from api._http import http_endpoint, json_response, read_json, signed_in
from voicea2a.errors import InvalidRequest, NotFound

bp = df.Blueprint()


def parse_decision(body: dict[str, Any]) -> tuple[bool, str]:
    """`{approve, note?}`: a boolean and a short note."""
    unknown = sorted(set(body) - {"approve", "note"})
    if unknown:
        raise InvalidRequest(f"Unknown field '{unknown[0]}'.")
    if not isinstance(body.get("approve"), bool):
        raise InvalidRequest("Field 'approve' must be true or false.")
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 500:
        raise InvalidRequest("Field 'note' must be a string of at most 500 characters.")
    return body["approve"], note


@bp.route(route="approvals/{instanceId}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@http_endpoint
async def approve(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Deliver the decision to a delegation waiting for one."""
    supervisor = await signed_in(req, "supervisor")
    approved, note = parse_decision(read_json(req))
    instance_id = req.route_params["instanceId"]
    status = await client.get_status(instance_id)
    if not status:
        raise NotFound("No such delegation.")
    if (status.custom_status or {}).get("stage") != "awaiting-approval":
        raise InvalidRequest("This delegation is not waiting for an approval.")
    decision = {"approve": approved, "note": note, "by": supervisor.user_id}
    await client.raise_event(instance_id, "approval", decision)
    return json_response({"instanceId": instance_id, "approve": approved}, status=202)
