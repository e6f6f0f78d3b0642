"""GET /api/health: anonymous dependency health (503 when storage is down)."""

import azure.durable_functions as df
import azure.functions as func

from bindings import http_endpoint, json_response
from voicea2a.config import get_settings
from voicea2a.health import check_health
from voicea2a.playbook import get_playbook

bp = df.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def health(req: func.HttpRequest) -> func.HttpResponse:
    """Report the status of storage, Web PubSub, the agent registry and the playbook's agents."""
    report = await check_health(get_settings(), get_playbook())
    return json_response(report.to_body(), status=report.http_status)
