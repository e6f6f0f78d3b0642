"""A test Function App with routes that need the supervisor or the agent role."""

import azure.functions as func

from api._http import signed_in
from bindings import http_endpoint, json_response

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="supervisor-only", methods=["GET"])
@http_endpoint
async def supervisor_only(req: func.HttpRequest) -> func.HttpResponse:
    principal = await signed_in(req, "supervisor")
    return json_response(principal.to_body())


@app.route(route="agent-only", methods=["GET"])
@http_endpoint
async def agent_only(req: func.HttpRequest) -> func.HttpResponse:
    principal = await signed_in(req, "agent")
    return json_response(principal.to_body())
