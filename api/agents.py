"""/api/agents: agents register themselves; users list them; supervisors remove them."""

import azure.durable_functions as df
import azure.functions as func

from api._http import http_endpoint, json_response, read_json, signed_in
from voicea2a import registry
from voicea2a.config import get_settings
from voicea2a.errors import InvalidRequest
from voicea2a.publisher import publish

bp = df.Blueprint()


@bp.route(route="agents", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def register_agent(req: func.HttpRequest) -> func.HttpResponse:
    """`{url}`: the app fetches and validates the card itself (behind the SSRF guard)."""
    await signed_in(req, "agent", "supervisor")
    body = read_json(req)
    unknown = sorted(set(body) - {"url"})
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.")
    record, changed = await registry.register(body.get("url"), get_settings().agents)
    if changed:
        await publish(registry.registry_event(await registry.list_agents()))
    return json_response(record.public())


@bp.route(route="agents", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def list_agents(req: func.HttpRequest) -> func.HttpResponse:
    """The agent network: names, descriptions, skills and health."""
    await signed_in(req)
    return json_response({"agents": [r.public() for r in await registry.list_agents()]})


@bp.route(route="agents/{name}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def remove_agent(req: func.HttpRequest) -> func.HttpResponse:
    """Remove an agent from the network (it returns if it registers again)."""
    await signed_in(req, "supervisor")
    await registry.remove(req.route_params["name"])
    await publish(registry.registry_event(await registry.list_agents()))
    return func.HttpResponse(status_code=204)
