"""The Function App: validates the settings, creates the app object and registers the blueprints."""

import azure.durable_functions as df
import azure.functions as func

from activities import plan, publish, record, specialists
from api import (
    agents,
    approvals,
    auth,
    config,
    conversations,
    events,
    health,
    messages,
    metrics,
    openapi,
    voice,
)
from jobs import agent_health, reconcile_history
from orchestrations import delegation
from voicea2a import durable_timestamps
from voicea2a.config import get_settings
from voicea2a.playbook import get_playbook

# Fail fast: a bad setting or playbook stops the app at start-up with a message naming it.
get_settings()
get_playbook()
durable_timestamps.install()

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

BLUEPRINTS = (
    # HTTP: one module per resource under /api
    health, config, openapi, auth, voice, events, agents, messages, approvals, conversations,
    metrics,
    # Durable: the delegation orchestration and its activities
    delegation, plan, specialists, publish, record,
    # Timers
    agent_health, reconcile_history,
)  # fmt: skip
for module in BLUEPRINTS:
    app.register_functions(module.bp)
