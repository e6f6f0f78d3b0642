"""Activity `plan_delegation`: the routable agents and the verified customer, planned."""

import azure.durable_functions as df

from bindings import activity
from orchestrations.contract import PLAN_DELEGATION, PlanInput, PlanResult
from voicea2a import history, registry
from voicea2a.config import get_settings
from voicea2a.messages import MessageRequest
from voicea2a.planner import chosen_plan, context_text, identity_fingerprint, plan

bp = df.Blueprint()


@bp.activity_trigger(input_name="job", activity=PLAN_DELEGATION)
@activity
async def plan_delegation(job: PlanInput) -> PlanResult:
    """Read the registry and the conversation, then plan (the pure planner decides)."""
    agents = await registry.routable_agents()
    skills = registry.skill_routes(agents)
    verified = await history.verified_customer(job["user"], job["conversationId"])
    request = MessageRequest.from_json(job["request"])
    customer = request.customer
    if request.agents:  # the voice model chose whom to ask
        chosen = {record.name: record.card.skills[0].id for record in agents if record.card.skills}
        limits = get_settings().delegation
        turns = await history.recent_turns(job["user"], job["conversationId"], limits.context_turns)
        context = context_text(turns, limits.context_max_chars)
        customer_id = verified.customer_id if verified else None
        planned = chosen_plan(request, chosen, customer_id, context)
    else:
        planned = plan(request, verified, skills)
    return {
        "plan": planned.to_json(),
        # The cards travel with the plan: no registry read per specialist call.
        "cards": {record.name: dict(record.card.raw) for record in agents},
        "verifiedCustomerId": verified.customer_id if verified else None,
        # Stored with the customer if this turn verifies its identity (history.py).
        "identity": identity_fingerprint(customer) if customer and customer.has_identity() else "",
    }
