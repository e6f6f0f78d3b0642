"""/api/events: the Web PubSub client URL for a signed-in user's live events."""

from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func

from api._http import signed_in, token_audit
from bindings import http_endpoint, json_response
from voicea2a import issuance
from voicea2a.config import get_settings
from voicea2a.errors import NotConfigured, UpstreamUnavailable
from voicea2a.events import OPS_GROUP
from voicea2a.publisher import service_client

bp = df.Blueprint()


@bp.route(route="events/negotiate", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def negotiate(req: func.HttpRequest) -> func.HttpResponse:
    """A client URL whose token names the user; supervisors also join `ops`. No permissions:
    a client can neither send to a group nor join one, only receive."""
    principal = await signed_in(req)
    settings = get_settings()
    client = service_client()
    if client is None:
        raise NotConfigured("Live events are not configured.")
    entry = token_audit(req, principal.user_id, "webpubsub")
    limit = settings.rate_limits.voice_token_per_minute
    await issuance.admit("events-negotiate", principal.user_id, limit, entry)
    minutes = settings.webpubsub_token_minutes
    groups = [OPS_GROUP] if principal.has_role("supervisor") else None
    from azure.core.exceptions import AzureError

    try:
        access = await client.get_client_access_token(
            user_id=principal.user_id, roles=None, groups=groups, minutes_to_expire=minutes
        )
    except AzureError:
        raise UpstreamUnavailable("Live events are unavailable; try again shortly.") from None
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)
    await issuance.issued(entry)
    return json_response(
        {"url": access["url"], "expiresAt": expires_at.isoformat().replace("+00:00", "Z")}
    )
