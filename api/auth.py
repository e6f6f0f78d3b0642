"""/api/auth: the dev sign-in (only when enabled) and who-am-I."""

import azure.durable_functions as df
import azure.functions as func

from api._http import read_body, signed_in, token_audit
from bindings import http_endpoint, json_response
from voicea2a import issuance
from voicea2a.auth import issue_app_token
from voicea2a.config import get_settings
from voicea2a.devlogin import DEV_LOGIN
from voicea2a.errors import NotFound

bp = df.Blueprint()


@bp.route(route="auth/dev-token", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def dev_token(req: func.HttpRequest) -> func.HttpResponse:
    """Issue a 15-minute app token for any user name: development only (404 when disabled)."""
    settings = get_settings()
    if not settings.auth.dev_login_enabled:
        raise NotFound()
    login = read_body(req, DEV_LOGIN)
    entry = token_audit(req, login.user, "dev")
    # Nobody is signed in yet, so the budget is per client address.
    limit = settings.rate_limits.voice_token_per_minute
    await issuance.admit("dev-token", entry.client_ip, limit, entry)
    token, expires_at = await issue_app_token(settings.auth, login.user, login.roles)
    await issuance.issued(entry)
    return json_response(
        {
            "token": token,
            "tokenType": "Bearer",
            "expiresAt": expires_at.isoformat().replace("+00:00", "Z"),
            "user": login.user,
            "roles": list(login.roles),
        }
    )


@bp.route(route="auth/me", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def me(req: func.HttpRequest) -> func.HttpResponse:
    """Who the bearer token says the caller is."""
    principal = await signed_in(req)
    return json_response(principal.to_body())
