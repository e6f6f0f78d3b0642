import inspect
import json
import logging

import azure.durable_functions as df
import azure.functions as func
import pytest

from api._http import read_json
from bindings import error_response, http_endpoint, json_response
from voicea2a.errors import NotFound, PayloadTooLarge, RateLimited
from voicea2a.telemetry.context import current_correlation_id

CLIENT_JSON = json.dumps(
    {
        "taskHubName": "testhub",
        "creationUrls": {},
        "managementUrls": {},
        "rpcBaseUrl": "http://127.0.0.1:9/durabletask/",
    }
)


def build_app():
    bp = df.Blueprint()

    @bp.route(route="ok", methods=["GET"])
    @http_endpoint
    async def ok(req: func.HttpRequest) -> func.HttpResponse:
        return json_response({"correlationId": current_correlation_id()})

    def raising(name: str, error: Exception, method: str = "GET") -> None:
        """Function `name` (at the route of that name, dashed) that raises `error`."""

        async def endpoint(req: func.HttpRequest) -> func.HttpResponse:
            raise error

        endpoint.__name__ = endpoint.__qualname__ = name
        bp.route(route=name.replace("_", "-"), methods=[method])(http_endpoint(endpoint))

    raising("missing", NotFound("No such thing."))
    raising("slow_down", RateLimited(retry_after=7))
    raising("boom", RuntimeError("database password is hunter2"), "POST")

    @bp.route(route="misconfigured", methods=["GET"])
    @http_endpoint
    async def misconfigured(req: func.HttpRequest) -> func.HttpResponse:
        from voicea2a.config import get_settings

        get_settings()  # no AzureWebJobsStorage in this test's environment
        return json_response({})

    @bp.route(route="echo", methods=["POST"])
    @http_endpoint
    async def echo(req: func.HttpRequest) -> func.HttpResponse:
        return json_response(read_json(req))

    @bp.route(route="start", methods=["POST"])
    @bp.durable_client_input(client_name="client")
    @http_endpoint
    async def start(
        req: func.HttpRequest, client: df.DurableOrchestrationClient
    ) -> func.HttpResponse:
        hub = client._orchestration_bindings.task_hub_name
        return json_response({"client": type(client).__name__, "hub": hub})

    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(bp)
    return app


@pytest.fixture(scope="module")
def functions():
    return {f.get_function_name(): f for f in build_app().get_functions()}


def request(method="GET", body=b"", headers=None):
    return func.HttpRequest(method, "http://localhost/api/x", body=body, headers=headers or {})


async def call(functions, name, **kwargs):
    return await functions[name].get_user_function()(**kwargs)


def body_of(response):
    return json.loads(response.get_body())


def test_bindings_and_signature_are_preserved(functions):
    ok = functions["ok"]
    assert {b.name for b in ok.get_bindings()} == {"req", "$return"}
    assert list(inspect.signature(ok.get_user_function()).parameters) == ["req"]
    assert inspect.iscoroutinefunction(ok.get_user_function())

    start = functions["start"]
    assert {b.name for b in start.get_bindings()} == {"req", "client", "$return"}
    assert {b.type for b in start.get_bindings()} == {"httpTrigger", "http", "durableClient"}
    assert list(inspect.signature(start.get_user_function()).parameters) == ["req", "client"]


async def test_durable_client_composes_with_http_endpoint(functions):
    response = await call(functions, "start", req=request("POST"), client=CLIENT_JSON)
    assert response.status_code == 200
    assert body_of(response) == {"client": "DurableOrchestrationClient", "hub": "testhub"}
    assert response.headers["x-correlation-id"]


async def test_success_gets_a_correlation_id_and_no_store(functions):
    response = await call(functions, "ok", req=request())
    correlation_id = response.headers["x-correlation-id"]
    assert len(correlation_id) == 32
    assert body_of(response) == {"correlationId": correlation_id}
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "application/json"
    assert current_correlation_id() is None


async def test_safe_incoming_correlation_id_is_reused(functions):
    response = await call(functions, "ok", req=request(headers={"x-correlation-id": "abc-123.X_y"}))
    assert response.headers["x-correlation-id"] == "abc-123.X_y"


@pytest.mark.parametrize("supplied", ["a b", "x" * 65, "<script>", "a\r\nSet-Cookie: x=1", ""])
async def test_unsafe_incoming_correlation_id_is_replaced(functions, supplied):
    response = await call(functions, "ok", req=request(headers={"x-correlation-id": supplied}))
    assert response.headers["x-correlation-id"] != supplied
    assert len(response.headers["x-correlation-id"]) == 32


async def test_api_error_becomes_its_body(functions):
    response = await call(functions, "missing", req=request())
    assert response.status_code == 404
    assert body_of(response) == {
        "error": {"code": "not_found", "message": "No such thing.", "retryable": False}
    }
    assert response.headers["x-correlation-id"]
    assert "Retry-After" not in response.headers


async def test_retry_after_header(functions):
    response = await call(functions, "slow_down", req=request())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert body_of(response)["error"]["retryAfter"] == 7


async def test_unexpected_exception_is_500_without_its_text(functions, caplog):
    caplog.set_level(logging.ERROR, logger="bindings")
    secret_body = b'{"password": "body-secret"}'
    response = await call(
        functions,
        "boom",
        req=request("POST", secret_body, {"authorization": "Bearer header-secret"}),
    )
    correlation_id = response.headers["x-correlation-id"]
    assert response.status_code == 500
    assert body_of(response) == {
        "error": {
            "code": "internal",
            "message": f"An internal error occurred. Reference: {correlation_id}",
            "retryable": False,
        }
    }
    assert b"hunter2" not in response.get_body()
    [record] = [r for r in caplog.records if r.name == "bindings"]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert correlation_id in record.getMessage()
    assert "body-secret" not in record.getMessage()
    assert "header-secret" not in record.getMessage()


async def test_config_error_is_503_not_configured(functions, caplog):
    caplog.set_level(logging.ERROR, logger="bindings")
    response = await call(functions, "misconfigured", req=request())
    assert response.status_code == 503
    error = body_of(response)["error"]
    assert error["code"] == "not_configured"
    assert "AzureWebJobsStorage" not in error["message"]
    assert any("AzureWebJobsStorage" in r.getMessage() for r in caplog.records)


async def test_read_json_uses_the_configured_limit(functions, app_env):
    app_env(MAX_REQUEST_BODY_BYTES="20")
    headers = {"content-type": "application/json"}
    response = await call(functions, "echo", req=request("POST", b'{"a": 1}', headers))
    assert body_of(response) == {"a": 1}
    response = await call(
        functions, "echo", req=request("POST", b'{"a": "' + b"x" * 20 + b'"}', headers)
    )
    assert response.status_code == 413
    response = await call(
        functions, "echo", req=request("POST", b"{}", {"content-type": "text/plain"})
    )
    assert response.status_code == 415
    response = await call(functions, "echo", req=request("POST", b"[1]", headers))
    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == "invalid_request"


async def test_read_json_refuses_text_that_is_not_text(functions, app_env):
    app_env()
    headers = {"content-type": "application/json"}
    body = b'{"a": "\\ud800 hi"}'
    response = await call(functions, "echo", req=request("POST", body, headers))
    assert response.status_code == 400
    assert body_of(response)["error"]["message"].startswith("Field 'a' must not contain")


def test_error_response_directly():
    response = error_response(PayloadTooLarge(), "cid")
    assert response.status_code == 413
    assert response.headers["x-correlation-id"] == "cid"
    assert response.headers["Cache-Control"] == "no-store"


def test_json_response_headers_can_override_cache_control():
    response = json_response({"a": 1}, status=201, headers={"Cache-Control": "max-age=60"})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "max-age=60"
    assert body_of(response) == {"a": 1}


def test_json_response_writes_a_lone_surrogate_as_a_replacement_character():
    # A row stored before the edge refused lone surrogates must not make a response unwritable.
    response = json_response({"text": "said \ud800 and \U0001f600"})
    assert response.status_code == 200
    assert response.get_body().decode("utf-8") == '{"text":"said \ufffd and \U0001f600"}'
