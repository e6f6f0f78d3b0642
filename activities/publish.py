"""Activity `publish_events`: a batch of the orchestration's events, best effort."""

from datetime import datetime

import azure.durable_functions as df

from bindings import activity
from orchestrations.contract import PUBLISH_EVENTS, EventBatchInput
from voicea2a.config import get_settings
from voicea2a.events import Event
from voicea2a.publisher import publish_all

bp = df.Blueprint()


@bp.activity_trigger(input_name="batch", activity=PUBLISH_EVENTS)
@activity
async def publish_events(batch: EventBatchInput) -> int:
    """Publish the batch within its time budget; returns how many were delivered (never
    raises: the delegation never waits on Web PubSub)."""
    events = [
        Event(
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
        for item in batch["events"]
    ]
    return await publish_all(events, get_settings().events_batch_budget_seconds)
