"""Timer job: probe every agent, heal or mark it down, drop expired ones, tell the browsers."""

import logging

import azure.durable_functions as df
import azure.functions as func

from voicea2a import registry
from voicea2a.config import get_settings
from voicea2a.publisher import publish
from voicea2a.telemetry.setup import ensure_setup

bp = df.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(schedule="%AGENT_HEALTH_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def agent_health(timer: func.TimerRequest) -> None:
    """Probe the registry's agents concurrently; publish `registry.updated` when it changed."""
    ensure_setup()  # a process whose first invocation is this timer logs like the rest
    records, changed = await registry.probe_all(get_settings().agents)
    for record in records:
        # One line per agent and probe, healthy ones too: the "agent unhealthy" alert
        # (infra/app/alerts.bicep) measures an unhealthy streak as the lines since the last
        # healthy one.
        log.log(
            logging.INFO if record.health == registry.HEALTHY else logging.WARNING,
            "agent %s is %s (%d failed probes in a row)",
            record.name,
            record.health,
            record.failures,
            extra={"event": "agent.health", "agent": record.name, "status": record.health},
        )
    healthy = sum(record.health == registry.HEALTHY for record in records)
    log.info(
        "agent health: %d of %d healthy%s", healthy, len(records), " (changed)" if changed else ""
    )
    if changed:
        await publish(registry.registry_event(records))
