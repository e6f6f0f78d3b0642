"""/api/agents: agents register themselves; supervisors admit and remove them; users list them."""

import azure.durable_functions as df
import azure.functions as func

from api._http import read_body, signed_in
from bindings import http_endpoint, json_response
from voicea2a import registry
from voicea2a.bodies import AGENT_ADMISSION, AGENT_REGISTRATION
from voicea2a.config import get_settings
from voicea2a.publisher import publish

bp = df.Blueprint()

SUPERVISOR = "supervisor"


@bp.route(route="agents", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def register_agent(req: func.HttpRequest) -> func.HttpResponse:
    """`{url}`: the app fetches and validates the card itself (behind the SSRF guard); pending
    until a supervisor admits it, unless a supervisor or an allow-listed identity registers it."""
    principal = await signed_in(req, "agent", SUPERVISOR)
    registration = read_body(req, AGENT_REGISTRATION)
    settings = get_settings().agents
    by = registry.registrant(principal.user_id, principal.has_role(SUPERVISOR), settings)
    record, changed = await registry.register(registration.url, settings, by)
    if changed:
        await publish(registry.registry_event(await registry.list_agents()))
    return json_response({**record.public(), "admission": record.admission})


@bp.route(route="agents", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def list_agents(req: func.HttpRequest) -> func.HttpResponse:
    """The agent network: admitted agents for everyone; supervisors also see pending ones."""
    principal = await signed_in(req)
    records = await registry.list_agents()
    if principal.has_role(SUPERVISOR):
        return json_response({"agents": [r.for_supervisor() for r in records]})
    admitted = [r.public() for r in records if r.admission == registry.ADMITTED]
    return json_response({"agents": admitted})


@bp.route(route="agents/{name}/admit", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def admit_agent(req: func.HttpRequest) -> func.HttpResponse:
    """Admit an agent; `{priority?}` decides which agent gets a skill two of them offer."""
    await signed_in(req, SUPERVISOR)
    name = registry.route_name(req.route_params["name"])
    # The body is optional: without one, the agent is admitted with the priority it has.
    admission = read_body(req, AGENT_ADMISSION, optional=True)
    record = await registry.admit(name, admission.priority)
    await publish(registry.registry_event(await registry.list_agents()))
    return json_response(record.for_supervisor())


@bp.route(route="agents/{name}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def remove_agent(req: func.HttpRequest) -> func.HttpResponse:
    """Remove an agent (it returns if it registers again: pending unless allow-listed)."""
    await signed_in(req, SUPERVISOR)
    await registry.remove(registry.route_name(req.route_params["name"]))
    await publish(registry.registry_event(await registry.list_agents()))
    return func.HttpResponse(status_code=204)
