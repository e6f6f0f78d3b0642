"""/api/voice: the short-lived Voice Live credential and the session configuration."""

import logging

import azure.durable_functions as df
import azure.functions as func

from api._http import signed_in, token_audit
from bindings import http_endpoint, json_response
from voicea2a import issuance, registry
from voicea2a.config import get_settings
from voicea2a.errors import NotConfigured, UpstreamUnavailable
from voicea2a.playbook import get_playbook
from voicea2a.voice_session import AgentSummary, SkillSummary, session_update
from voicea2a.voicetoken import voice_credential

bp = df.Blueprint()
log = logging.getLogger(__name__)


@bp.route(route="voice/token", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def voice_token(req: func.HttpRequest) -> func.HttpResponse:
    """A credential for the browser's Voice Live WebSocket: rate limited and audited."""
    principal = await signed_in(req)
    settings = get_settings()
    voice = settings.voice
    if voice.endpoint is None:
        raise NotConfigured("Voice is not configured; use text mode.")
    entry = token_audit(req, principal.user_id, "voice")
    limit = settings.rate_limits.voice_token_per_minute
    await issuance.admit("voice-token", principal.user_id, limit, entry)
    credential = await voice_credential(voice)
    await issuance.issued(entry)
    expires_at = credential.expires_at
    return json_response(
        {
            "endpoint": voice.endpoint,
            "apiVersion": voice.api_version,
            "model": voice.model,
            "authType": credential.auth_type,
            "token": credential.token,
            "expiresAt": expires_at.isoformat().replace("+00:00", "Z") if expires_at else None,
        }
    )


@bp.route(route="voice/session", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def voice_session(req: func.HttpRequest) -> func.HttpResponse:
    """The `session.update` payload: instructions, voice, turn detection and our tool."""
    await signed_in(req)
    settings = get_settings()
    agents = await live_agents()
    limit = settings.delegation.max_agents_per_request
    update = session_update(settings.voice, get_playbook(), agents, limit)
    return json_response(update)


async def live_agents() -> list[AgentSummary]:
    """The agents the voice model may ask now (admitted, healthy); none if the registry is
    down."""
    try:
        records = await registry.routable_agents()
    except UpstreamUnavailable:
        log.warning("voice session built without the agent list: the registry is unavailable")
        return []
    return [
        AgentSummary(
            name=record.name,
            description=record.card.description,
            skills=tuple(
                SkillSummary(skill.name, skill.description, skill.examples)
                for skill in record.card.skills
            ),
        )
        for record in records
    ]
