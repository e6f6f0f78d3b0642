"""docs/openapi.yaml is a valid OpenAPI 3.1 document and describes exactly the app's routes.

The app is indexed the way the Functions host indexes it (`get_functions()` via the devhost's
`load_app` + `index_app`), so a route added, removed or renamed in api/ without the spec (or the
other way round) fails here. The limits and enums of the request bodies are checked against the
constants the code validates with.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from devhost.functions import index_app, load_app
from devhost.settings import load_settings as load_host_settings
from tests.contract.schemathesis_hooks import CODES as STATUS_CODES
from voicea2a import errors, messages
from voicea2a.auth import ROLES
from voicea2a.voice_session import SYMPTOMS

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
PUBLIC = {"health", "client_config", "openapi", "dev_token"}
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


@pytest.fixture
def app_routes(app_env) -> set[tuple[str, str]]:
    """(method, /api/route) of every HTTP function the host would serve."""
    app_env(
        FUNCTIONS_WORKER_RUNTIME="python",
        TASKHUB_NAME="contracttest",
        AGENT_HEALTH_SCHEDULE="*/30 * * * * *",
    )
    prefix = load_host_settings(ROOT, {}).route_prefix
    index = index_app(load_app(ROOT), prefix)
    routes = set()
    for info in index.http:
        template = info.trigger.route or info.name
        # ASP.NET constraints and optional markers are not part of an OpenAPI path template.
        template = re.sub(r"\{\*?([A-Za-z0-9_]+)(?::[^}]*)?\??\}", r"{\1}", template)
        methods = [str(getattr(m, "value", m)).lower() for m in (info.trigger.methods or [])]
        assert methods, f"{info.name} accepts every method: list them, and document them"
        for method in methods:
            routes.add((method, f"/{prefix}/{template}"))
    return routes


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1.")
    validate(spec)  # openapi-spec-validator: the 3.1 meta-schema plus its own rules


def test_every_route_of_the_app_is_in_the_spec_and_nothing_else(spec, app_routes):
    documented = {(method, path) for path, method, _ in operations(spec)}

    assert app_routes - documented == set(), "routes the spec does not describe"
    assert documented - app_routes == set(), "operations the app does not serve"


def test_operation_ids_name_the_functions(spec):
    ids = [operation["operationId"] for _, _, operation in operations(spec)]
    assert len(ids) == len(set(ids))
    assert set(ids) >= PUBLIC


def test_security_and_roles(spec):
    scheme = spec["components"]["securitySchemes"]["bearer"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert spec["security"] == [{"bearer": []}]
    for path, method, operation in operations(spec):
        roles = operation["x-roles"]
        assert set(roles) <= set(ROLES), (path, method)
        if operation["operationId"] in PUBLIC:
            assert operation["security"] == [] and roles == [], (path, method)
            continue
        assert "security" not in operation, (path, method)  # the document's bearer applies
        assert roles, (path, method)
        # Roles are said in words too, for readers of the rendered document.
        wanted = "any signed-in caller" if set(roles) == set(ROLES) else roles[0]
        assert wanted in operation["description"], (path, method)
        assert "401" in operation["responses"], (path, method)
        if set(roles) != set(ROLES):
            assert "403" in operation["responses"], (path, method)


def test_every_error_response_uses_the_error_body(spec):
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        assert "500" in responses, (path, method)
        for status, response in responses.items():
            code = int(status)
            if code < 400 or (operation["operationId"] == "health" and code == 503):
                continue  # health's 503 is the health report itself
            assert "$ref" in response, (path, method, status)  # a shared response component
            schema = resolve(spec, resolve(spec, response)["content"]["application/json"]["schema"])
            assert schema["allOf"][0] == {"$ref": ERROR_REF}, (path, method, status)
            codes = schema["allOf"][1]["properties"]["error"]["properties"]["code"]
            allowed = {codes["const"]} if "const" in codes else set(codes["enum"])
            assert allowed == STATUS_CODES[code], (path, method, status)
        for status in ("413", "415"):
            if "requestBody" in operation:
                assert status in responses, (path, method, status)


def test_429_carries_retry_after(spec):
    response = spec["components"]["responses"]["TooManyRequests"]
    header = resolve(spec, response["headers"]["Retry-After"])
    assert header["required"] is True
    body = resolve(spec, response["content"]["application/json"]["schema"])
    assert "retryAfter" in body["allOf"][1]["properties"]["error"]["required"]


def test_the_error_schema_is_the_one_error_body(spec):
    error = spec["components"]["schemas"]["Error"]
    inner = error["properties"]["error"]
    assert error["required"] == ["error"] and error["additionalProperties"] is False
    assert inner["additionalProperties"] is False
    assert set(inner["properties"]) == {"code", "message", "retryable", "retryAfter"}
    assert set(inner["required"]) == {"code", "message", "retryable"}
    codes = {cls.code for cls in _subclasses(errors.ApiError)} | {errors.ApiError.code}
    assert set(inner["properties"]["code"]["enum"]) == codes
    for cls in _subclasses(errors.ApiError):
        assert cls.code in STATUS_CODES[cls.status], cls


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_the_messages_body_has_the_codes_limits(spec):
    schemas = spec["components"]["schemas"]
    body = schemas["MessageRequest"]
    props = body["properties"]
    assert body["additionalProperties"] is False and body["required"] == ["request"]
    assert set(props) == {
        "request",
        "conversationId",
        "callId",
        "customer",
        "symptoms",
        "ledState",
        "preferredDate",
    }
    assert props["request"]["maxLength"] == messages.MAX_REQUEST_CHARS == 4000
    assert props["callId"]["maxLength"] == messages.MAX_CALL_ID_CHARS
    assert props["symptoms"]["maxItems"] == messages.MAX_SYMPTOMS
    assert schemas["Symptom"]["enum"] == list(SYMPTOMS)
    assert schemas["LedState"]["enum"] == list(messages.LED_STATES)
    conversation = schemas["ConversationId"]["pattern"]
    assert conversation == f"^{messages.CONVERSATION_ID_RE.pattern}$"
    customer = schemas["Customer"]
    assert customer["additionalProperties"] is False
    assert set(customer["properties"]) == {
        "firstName",
        "lastName",
        "postalCode",
        "dateOfBirth",
        "customerId",
    }
    assert customer["properties"]["firstName"]["maxLength"] == messages.MAX_NAME_CHARS
    assert customer["properties"]["postalCode"]["maxLength"] == messages.MAX_POSTAL_CODE_CHARS
    assert schemas["Role"]["enum"] == list(ROLES)
    assert schemas["ApprovalDecision"]["properties"]["note"]["maxLength"] == 500
    for name in ("MessageRequest", "Customer", "DevTokenRequest", "AgentRegistration"):
        assert schemas[name]["additionalProperties"] is False, name


def test_path_ids_have_the_patterns_the_code_checks(spec):
    instance = spec["components"]["parameters"]["InstanceId"]["schema"]["pattern"]
    assert instance == f"^{messages.INSTANCE_ID_RE.pattern}$"
    assert re.fullmatch(instance[1:-1], messages.instance_id_for("u", "c", "1"))
    [conversation] = spec["paths"]["/api/conversations/{id}"]["get"]["parameters"][:1]
    assert conversation["schema"] == {"$ref": "#/components/schemas/ConversationId"}


def test_the_messages_body_accepts_what_the_code_accepts(spec):
    """Sample bodies: the schema (jsonschema, 2020-12) and the code's validator agree."""
    import jsonschema

    def validator():
        body = {"$ref": "#/components/schemas/MessageRequest", "components": spec["components"]}
        return jsonschema.Draft202012Validator(body, format_checker=None)

    good = [
        {"request": "No internet since this morning"},
        {
            "request": "x" * 4000,
            "conversationId": "conv_1-A",
            "callId": "call_abc",
            "customer": {"firstName": "Ada", "customerId": "", "dateOfBirth": None},
            "symptoms": ["no_internet", "modem_lights"],
            "ledState": "",
            "preferredDate": "2026-08-01",
        },
    ]
    bad = [
        {},
        {"request": "x" * 4001},
        {"request": "   "},
        {"request": "hi", "unknown": 1},
        {"request": "hi", "symptoms": ["sneezing"]},
        {"request": "hi", "customer": {"middleName": "B"}},
        {"request": "hi", "customer": {"customerId": "C-1"}},
        {"request": "hi", "ledState": "green"},
        {"request": "hi", "conversationId": "has space"},
        {"request": "hi", "callId": "has space"},
        {"request": "hi", "symptoms": ["no_internet"] * 11},
    ]
    for body in good:
        assert not list(validator().iter_errors(body)), body
        messages.parse_message_request(body)
    for body in bad:
        assert list(validator().iter_errors(body)), body
        with pytest.raises(errors.InvalidRequest):
            messages.parse_message_request(body)
