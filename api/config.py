"""/api/config: the public settings the browser client starts from (no secrets, anonymous)."""

from typing import Any

import azure.durable_functions as df
import azure.functions as func

from bindings import http_endpoint, json_response
from voicea2a.config import get_settings
from voicea2a.messages import MAX_NAME_CHARS, MAX_POSTAL_CODE_CHARS
from voicea2a.playbook import Playbook, get_playbook

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
        "voice": {
            "enabled": settings.voice.endpoint is not None,
            "idleMinutes": settings.voice.idle_minutes,
        },
        "events": {"enabled": settings.webpubsub_service_endpoint is not None},
        # The page's form: the playbook's title, identity, symptoms and detail fields.
        "playbook": page_form(playbook) if (playbook := get_playbook()) else None,
    }
    return json_response(body, headers={"Cache-Control": "public, max-age=60"})


# The identity fields' input limits, as POST /api/messages checks them (None: a date).
IDENTITY_LIMITS = {
    "firstName": MAX_NAME_CHARS,
    "lastName": MAX_NAME_CHARS,
    "postalCode": MAX_POSTAL_CODE_CHARS,
    "dateOfBirth": None,
}


def page_form(playbook: Playbook) -> dict[str, Any]:
    """What the page's form shows: the playbook's title, identity fields, symptoms, details."""
    identity = playbook.identity.fields if playbook.identity else ()
    return {
        "name": playbook.name,
        "title": playbook.title,
        "placeholder": playbook.placeholder,
        "identity": [
            {
                "name": field.name,
                "label": field.label,
                "type": "text" if IDENTITY_LIMITS[field.name] else "date",
                "maxLength": IDENTITY_LIMITS[field.name],
            }
            for field in identity
        ],
        "symptoms": [{"id": symptom.id, "label": symptom.label} for symptom in playbook.symptoms],
        "details": [
            {
                "name": detail.name,
                "label": detail.label,
                "type": detail.type,
                "values": list(detail.values),
                "maxLength": detail.max_length,
                "description": detail.description,
            }
            for detail in playbook.details
        ],
    }
