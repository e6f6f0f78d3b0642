"""Activities `compose_answer` and `record_turn`: the spoken answer, and the turn's history."""

import azure.durable_functions as df

from activities.publish import carried_lane, carried_out
from bindings import activity
from orchestrations.contract import COMPOSE_ANSWER, RECORD_TURN, Answer, ComposeInput, RecordInput
from voicea2a import history
from voicea2a.compose import AgentOutcome, compose, compose_follow_up
from voicea2a.planner import Plan
from voicea2a.playbook import get_playbook

bp = df.Blueprint()


@bp.activity_trigger(input_name="turn", activity=COMPOSE_ANSWER)
@activity
def compose_answer(turn: ComposeInput) -> Answer:
    """One answer from the outcomes and the playbook's sentences (deterministic): the turn's,
    or the follow-up of its one outcome a person answered for."""
    outcomes = [AgentOutcome.from_json(outcome) for outcome in turn["outcomes"]]
    plan = Plan.from_json(turn["plan"])
    approval = turn.get("approval")
    if turn.get("followUp"):
        [outcome] = outcomes
        return compose_follow_up(plan, outcome, approval or "", get_playbook()).to_json()
    waiting = turn.get("waiting") or []
    return compose(plan, outcomes, approval, get_playbook(), waiting).to_json()


@bp.activity_trigger(input_name="turn", activity=RECORD_TURN)
@activity
async def record_turn(turn: RecordInput) -> None:
    """Append the user turn, each outcome and the answer (idempotent: deterministic row keys);
    the events the orchestrator handed over (the answer's) go out meanwhile."""
    lane = carried_lane(turn)
    try:
        await history.save_turn(turn)
        await carried_out(lane)
    finally:
        lane.close()
