"""Activity `plan_delegation`: the routable agents and the verified customer, planned."""

import azure.durable_functions as df

from activities.publish import carried_lane, carried_out
from bindings import activity
from orchestrations.contract import PLAN_DELEGATION, PlanInput, PlanResult
from voicea2a import history, registry
from voicea2a.config import get_settings
from voicea2a.matcher import Candidate, SkillText
from voicea2a.messages import request_body
from voicea2a.planner import (
    chosen_plan,
    context_text,
    covers,
    identity_fingerprint,
    matched_plan,
    plan,
)
from voicea2a.playbook import Playbook, get_playbook

bp = df.Blueprint()


@bp.activity_trigger(input_name="job", activity=PLAN_DELEGATION)
@activity
async def plan_delegation(job: PlanInput) -> PlanResult:
    """Read the registry and the conversation, then plan (the pure planner decides): the voice
    model's choice, else the playbook, else the generic matcher over the other agents; the
    events the orchestrator handed over go out meanwhile."""
    lane = carried_lane(job)
    try:
        planned = await _plan(job)
        await carried_out(lane)
        return planned
    finally:
        lane.close()


async def _plan(job: PlanInput) -> PlanResult:
    """The plan of `plan_delegation`."""
    playbook = get_playbook()
    agents = await registry.routable_agents()
    verified = await history.verified_customer(job["user"], job["conversationId"])
    verified_id = verified.customer_id if verified else None
    request = request_body(playbook).parse(job["request"])
    planned = None
    if playbook is not None and not request.agents:
        planned = plan(playbook, request, verified, registry.skill_routes(agents))
    if planned is None or not covers(planned):
        limits = get_settings().delegation
        earlier = await history.recent(job["user"], job["conversationId"], limits.context_turns)
        context = context_text(earlier.turns, limits.context_max_chars)
        if request.agents:  # the voice model chose whom to ask
            first_skills = {r.name: r.card.skills[0].id for r in agents if r.card.skills}
            planned = chosen_plan(request, first_skills, verified_id, context, earlier.waiting)
        else:
            candidates = _candidates(agents, playbook)
            planned = matched_plan(request, candidates, verified_id, context, earlier.waiting)
    customer = request.customer
    return {
        "plan": planned.to_json(),
        # The cards travel with the plan: no registry read per specialist call.
        "cards": {record.name: dict(record.card.raw) for record in agents},
        "verifiedCustomerId": verified_id,
        # Stored with the customer if this turn verifies its identity (history.py).
        "identity": identity_fingerprint(customer) if customer and customer.has_identity() else "",
    }


def _candidates(agents: list[registry.AgentRecord], playbook: Playbook | None) -> list[Candidate]:
    """The agents the generic matcher may choose: those offering no skill of the playbook (its
    agents answer by its rules alone)."""
    governed = set(playbook.labels) if playbook else set()
    return [
        Candidate(
            record.name,
            tuple(
                SkillText(skill.id, skill.name, skill.description, skill.tags, skill.examples)
                for skill in record.card.skills
            ),
        )
        for record in agents
        if not any(skill.id in governed for skill in record.card.skills)
    ]
