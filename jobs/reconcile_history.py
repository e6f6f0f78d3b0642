"""Timer job: write to the history the turns a storage outage kept out of it."""

import logging
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func

from orchestrations.contract import ORCHESTRATOR, pending_turn
from voicea2a import history
from voicea2a.errors import ApiError
from voicea2a.instances import list_instances
from voicea2a.telemetry.metrics import record_history_reconciled
from voicea2a.telemetry.setup import ensure_setup

bp = df.Blueprint()
log = logging.getLogger(__name__)

# Every 10 minutes: a pending turn waited HISTORY_RETRY_MINUTES already; a few more are fine,
# and a faster schedule would wake a Flex Consumption app for nothing most of the time.
SCHEDULE = "0 */10 * * * *"
# Delegations created in this window are looked at (a pending turn older than this is left in
# its instance's output, which the Durable task hub keeps until it is purged).
LOOKBACK = timedelta(days=2)


@bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def reconcile_history(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    """Record the turns completed delegations kept because the history was down (idempotent:
    a turn already in the history is skipped, so it can run any time)."""
    ensure_setup()  # a process whose first invocation is this timer logs like the rest
    since = datetime.now(UTC) - LOOKBACK
    query = {
        "runtimeStatus": "Completed",
        "createdTimeFrom": since.isoformat(),
        "showInput": "false",
    }
    statuses = await list_instances(client, query, "the completed delegations")
    pending = [
        turn
        for status in statuses
        if status.name == ORCHESTRATOR and (turn := pending_turn(status.output)) is not None
    ]
    recorded = failed = 0
    for turn in pending:
        try:
            if await history.turn_saved(turn):
                continue
            await history.save_turn(turn)
        except ApiError as exc:  # storage still down, or a turn the history refuses
            failed += 1
            log.warning(
                "turn of %s not reconciled: %s",
                turn["instanceId"],
                exc.code,
                extra={"event": "history.reconcile_failed", "instanceId": turn["instanceId"]},
            )
            continue
        recorded += 1
        log.info(
            "turn of %s recorded by reconciliation",
            turn["instanceId"],
            extra={"event": "history.reconciled", "instanceId": turn["instanceId"]},
        )
    if recorded:
        record_history_reconciled(recorded)
    log.info(
        "history reconciliation: %d pending turn(s), %d recorded, %d failed",
        len(pending),
        recorded,
        failed,
        extra={"event": "history.reconciliation"},
    )
