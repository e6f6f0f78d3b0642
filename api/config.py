"""/api/config: the public settings the browser client starts from (no secrets, anonymous)."""

import azure.durable_functions as df
import azure.functions as func

from bindings import http_endpoint, json_response
from voicea2a.config import get_settings
from voicea2a.playbook import get_playbook

bp = df.Blueprint()


@bp.route(route="config", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def client_config(req: func.HttpRequest) -> func.HttpResponse:
    """Sign-in modes, the MSAL registration, whether voice is configured, and the form."""
    settings = get_settings()
    auth = settings.auth
    body = {
        "signIn": {
            "dev": auth.dev_login_enabled,
            "entra": (
                {"clientId": auth.client_id, "authority": auth.authority, "scope": auth.api_scope}
                if auth.client_id
                else None
            ),
        },
        "voice": {"enabled": settings.voice.endpoint is not None},
        "events": {"enabled": settings.webpubsub_service_endpoint is not None},
        # The page's form: the playbook's title, identity, symptoms and detail fields.
        "playbook": playbook.to_client() if (playbook := get_playbook()) else None,
    }
    return json_response(body, headers={"Cache-Control": "public, max-age=60"})
