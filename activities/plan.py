"""Activity `plan_delegation`: the healthy agents and the verified customer, planned."""

from typing import Any

import azure.durable_functions as df

from voicea2a import history, registry, telemetry
from voicea2a.messages import MessageRequest
from voicea2a.planner import plan

bp = df.Blueprint()


@bp.activity_trigger(input_name="job")
@telemetry.activity
async def plan_delegation(job: dict) -> dict[str, Any]:
    """Read the registry and the conversation, then plan (the pure planner decides)."""
    agents = await registry.healthy_agents()
    skills = {skill.id: record.name for record in agents for skill in record.card.skills}
    verified = await history.verified_customer_id(job["user"], job["conversationId"])
    request = MessageRequest.from_json(job["request"])
    return {
        "plan": plan(request, verified, skills).to_json(),
        # The cards travel with the plan: no registry read per specialist call.
        "cards": {record.name: dict(record.card.raw) for record in agents},
        "verifiedCustomerId": verified,
    }
