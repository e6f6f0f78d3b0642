"""The Function App: creates the app object and registers the blueprints, nothing else."""

import azure.durable_functions as df
import azure.functions as func

from api import health

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

app.register_functions(health.bp)
