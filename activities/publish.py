"""Activity `publish_events`: a batch of the orchestration's events, best effort; and the lane
other activities publish the events they carry on (orchestrations/contract.py `CarriedEvents`)."""

from datetime import datetime

import azure.durable_functions as df

from bindings import activity
from orchestrations.contract import PUBLISH_EVENTS, CarriedEvents, EventBatchInput, QueuedEvent
from voicea2a.config import get_settings
from voicea2a.events import Event
from voicea2a.publisher import EventLane, publish_all

bp = df.Blueprint()


@bp.activity_trigger(input_name="batch", activity=PUBLISH_EVENTS)
@activity
async def publish_events(batch: EventBatchInput) -> int:
    """Publish the batch within its time budget; returns how many were delivered (never
    raises: the delegation never waits on Web PubSub)."""
    events = [queued_event(item) for item in batch["events"]]
    return await publish_all(events, get_settings().events_batch_budget_seconds)


def carried_lane(carrier: CarriedEvents, max_offers: int = 0) -> EventLane:
    """A lane already sending the events the orchestrator handed to this activity, in order;
    the activity adds its own and closes it (never waiting for Web PubSub)."""
    lane = EventLane(get_settings().events_batch_budget_seconds, max_offers)
    for item in carrier.get("events") or ():
        lane.send(queued_event(item))
    return lane


async def carried_out(lane: EventLane) -> None:
    """Before the activity returns: wait for the events it carried, within one publish
    attempt's time limit and only while Web PubSub answers, so the next step's events (another
    activity's) come after them and an outage never holds up the delegation."""
    await lane.sent(get_settings().events_publish_timeout_seconds)


def queued_event(item: QueuedEvent) -> Event:
    """The event an orchestrator queued, as the publisher sends it (same id and time)."""
    return Event(
        type=item["type"],
        data=item["data"],
        owner=item["owner"],
        conversation_id=item["conversationId"],
        call_id=item.get("callId"),
        instance_id=item.get("instanceId"),
        agent=item.get("agent"),
        correlation_id=item.get("correlationId"),
        id=item["id"],
        time=datetime.fromisoformat(item["time"]),
    )
