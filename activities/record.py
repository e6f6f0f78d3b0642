"""Activity `record_turn`: the turn's history (the orchestrator composes the answer)."""

import azure.durable_functions as df

from activities.publish import carried_lane, carried_out
from bindings import activity
from orchestrations.contract import RECORD_TURN, RecordInput
from voicea2a import history

bp = df.Blueprint()


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
