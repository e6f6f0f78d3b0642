"""/api/openapi.yaml: the API contract (docs/openapi.yaml), served as written."""

from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

from bindings import http_endpoint
from voicea2a.errors import NotFound

bp = df.Blueprint()
SPEC = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


@bp.route(route="openapi.yaml", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_endpoint
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI 3.1 document of every route."""
    if not SPEC.is_file():
        raise NotFound("The API description is not deployed.")
    return func.HttpResponse(
        SPEC.read_bytes(), mimetype="application/yaml", headers={"Cache-Control": "no-cache"}
    )
