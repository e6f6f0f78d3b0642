"""/api/conversations: a user's own conversations and their messages, paginated."""

import azure.durable_functions as df
import azure.functions as func

from api._http import signed_in
from bindings import http_endpoint, json_response
from voicea2a import history
from voicea2a.errors import NotFound
from voicea2a.history import MAX_LIMIT
from voicea2a.messages import CONVERSATION_ID_RE
from voicea2a.payloads import parse_count

bp = df.Blueprint()


def page_size(req: func.HttpRequest, default: int) -> int:
    """The `limit` query parameter: 1-100."""
    return parse_count(req.params.get("limit"), "limit", default, 1, MAX_LIMIT)


@bp.route(route="conversations", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def list_conversations(req: func.HttpRequest) -> func.HttpResponse:
    """The caller's conversations, newest first."""
    principal = await signed_in(req)
    items, cursor = await history.list_conversations(
        principal.user_id, page_size(req, 20), req.params.get("cursor")
    )
    return json_response({"conversations": items, "nextCursor": cursor})


@bp.route(route="conversations/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def get_conversation(req: func.HttpRequest) -> func.HttpResponse:
    """One of the caller's conversations with its messages in order (404 for anyone else)."""
    principal = await signed_in(req)
    conversation_id = req.route_params["id"]
    if not CONVERSATION_ID_RE.fullmatch(conversation_id):
        raise NotFound("No such conversation.")  # no conversation has such an id
    conversation = await history.get_conversation(principal.user_id, conversation_id)
    if conversation is None:
        raise NotFound("No such conversation.")
    messages, cursor = await history.list_messages(
        principal.user_id, conversation_id, page_size(req, 50), req.params.get("cursor")
    )
    return json_response({"conversation": conversation, "messages": messages, "nextCursor": cursor})
