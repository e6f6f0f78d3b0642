"""The Function App: validates the settings, creates the app object and registers the blueprints."""

import azure.durable_functions as df
import azure.functions as func

from api import agents, auth, events, health, voice
from jobs import agent_health
from voicea2a.config import get_settings

# Fail fast: a bad setting stops the app at start-up with a message naming it.
get_settings()

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

app.register_functions(health.bp)
app.register_functions(auth.bp)
app.register_functions(voice.bp)
app.register_functions(events.bp)
app.register_functions(agents.bp)
app.register_functions(agent_health.bp)
