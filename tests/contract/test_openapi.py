"""docs/openapi.yaml is a valid OpenAPI 3.1 document and describes exactly the app's routes.

The app is indexed the way the Functions host indexes it (`get_functions()` via the devhost's
`load_app` + `index_app`), so a route added, removed or renamed in api/ without the spec (or the
other way round) fails here. The request-body schemas are generated from the code's declarations
(scripts/openapi.py): the document must hold exactly what it generates, and sample bodies must
get the same verdict from the schema and from the code.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from devhost.functions import index_app, load_app
from devhost.settings import load_settings as load_host_settings
from scripts import openapi as generator
from tests.contoso import BODY, LED_STATES, SYMPTOM_IDS
from tests.contract.schemathesis_hooks import CODES as STATUS_CODES
from voicea2a import bodies, errors, messages
from voicea2a.auth import ROLES
from voicea2a.devlogin import DEV_LOGIN
from voicea2a.schema import REF

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
        "agents",
    }
    assert props["agents"]["maxItems"] == messages.MAX_AGENTS
    assert props["request"]["maxLength"] == messages.MAX_REQUEST_CHARS == 4000
    assert props["callId"]["maxLength"] == messages.MAX_CALL_ID_CHARS
    assert props["symptoms"]["maxItems"] == messages.MAX_SYMPTOMS
    assert schemas["Symptom"]["enum"] == list(SYMPTOM_IDS)
    assert schemas["LedState"]["enum"] == list(LED_STATES)
    conversation = schemas["ConversationId"]["pattern"]
    assert conversation == f"^(?:{messages.CONVERSATION_ID_RE.pattern})$"
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
    priority = schemas["AgentAdmission"]["properties"]["priority"]
    assert (priority["minimum"], priority["maximum"]) == (-1000, 1000)
    for name in (*(body.name for body in generator.BODIES), "Customer"):
        assert schemas[name]["additionalProperties"] is False, name


def test_path_ids_have_the_patterns_the_code_checks(spec):
    instance = spec["components"]["parameters"]["InstanceId"]["schema"]["pattern"]
    assert instance == f"^{messages.INSTANCE_ID_RE.pattern}$"
    assert re.fullmatch(instance[1:-1], messages.instance_id_for("u", "c", "1"))
    [conversation] = spec["paths"]["/api/conversations/{id}"]["get"]["parameters"][:1]
    assert conversation["schema"] == {"$ref": "#/components/schemas/ConversationId"}


def test_the_request_schemas_are_the_ones_the_code_generates(spec):
    schemas = spec["components"]["schemas"]
    for name, schema in generator.generated().items():
        assert schemas.get(name) == schema, f"{name}: run python scripts/openapi.py --write"
    text = SPEC_PATH.read_text(encoding="utf-8")
    assert generator.rewrite(text, generator.generated()) == text, "scripts/openapi.py --write"


def test_every_request_body_is_a_generated_schema(spec):
    bodies = {}
    for path, method, operation in operations(spec):
        if "requestBody" in operation:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert set(schema) == {"$ref"}, (path, method)  # no hand-written body schema
            bodies[operation["operationId"]] = schema["$ref"].removeprefix(REF)
    assert set(bodies.values()) == {body.name for body in generator.BODIES}
    assert bodies == {
        "dev_token": "DevTokenRequest",
        "register_agent": "AgentRegistration",
        "admit_agent": "AgentAdmission",
        "post_message": "MessageRequest",
        "approve": "ApprovalDecision",
        "voice_latency": "LatencyReport",
    }


# Per body: bodies the code accepts, then bodies it refuses. The schema must agree on each.
SAMPLES = {
    "MessageRequest": (
        BODY,
        [
            {"request": "No internet since this morning"},
            {"request": "line one\n\tline two", "symptoms": None, "customer": None},
            {
                "request": "x" * 4000,
                "conversationId": "conv_1-A",
                "callId": "call_abc",
                "customer": {"firstName": "Ada", "customerId": "", "dateOfBirth": None},
                "symptoms": ["no_internet", "modem_lights"],
                "ledState": "",
                "preferredDate": "2026-08-01",
            },
        ],
        [
            {},
            {"request": None},
            {"request": "x" * 4001},
            {"request": "   "},
            {"request": "hi", "unknown": 1},
            {"request": "hi", "symptoms": ["sneezing"]},
            {"request": "hi", "customer": {"middleName": "B"}},
            {"request": "hi", "customer": {"customerId": "C-1"}},
            {"request": "hi", "customer": {"postalCode": "M5H/1A1"}},
            {"request": "hi", "customer": {"dateOfBirth": "14/03/1985"}},
            {"request": "hi", "customer": "Ada"},
            {"request": "hi", "ledState": "green"},
            {"request": "hi", "conversationId": "has space"},
            {"request": "hi", "conversationId": ""},
            {"request": "hi", "callId": "has space"},
            {"request": "hi", "callId": ""},
            {"request": "hi", "symptoms": ["no_internet"] * 11},
            {"request": "hi", "preferredDate": "tomorrow"},
        ],
    ),
    "DevTokenRequest": (
        DEV_LOGIN,
        [{"user": "ada"}, {"user": "ada.l@contoso", "roles": ["supervisor", "agent"]}],
        [
            {},
            {"user": ""},
            {"user": "a b"},
            {"user": "x" * 65},
            {"user": 7},
            {"user": "ada", "roles": []},
            {"user": "ada", "roles": ["admin"]},
            {"user": "ada", "roles": "user"},
            {"user": "ada", "roles": None},
            {"user": "ada", "extra": 1},
        ],
    ),
    "ApprovalDecision": (
        bodies.APPROVAL_DECISION,
        [
            {"approve": True},
            {"approve": False, "note": "n" * 500},
            {"approve": True, "note": ""},
            {"reply": "Book the first slot."},
            {"reply": "r" * 2000},
        ],
        [
            {},
            {"approve": True, "reply": "both"},
            {"reply": ""},
            {"reply": "r" * 2001},
            {"approve": "yes"},
            {"approve": None},
            {"approve": True, "note": "n" * 501},
            {"approve": True, "note": None},
            {"approve": True, "by": "me"},
        ],
    ),
    "AgentRegistration": (
        bodies.AGENT_REGISTRATION,
        [{"url": "https://outage.agents.contoso.example"}],
        [{}, {"url": None}, {"url": ""}, {"url": 5}, {"url": "https://a.example", "name": "x"}],
    ),
    "AgentAdmission": (
        bodies.AGENT_ADMISSION,
        [{}, {"priority": 0}, {"priority": -1000}, {"priority": 1000}],
        [
            {"priority": 1001},
            {"priority": "5"},
            {"priority": True},
            {"priority": 1.5},
            {"priority": None},
            {"rank": 1},
        ],
    ),
    "LatencyReport": (
        bodies.LATENCY_REPORT,
        [
            {"callId": "call_1", "latencyMs": 0, "outcome": "answered"},
            {"callId": "c", "latencyMs": 3_600_000, "outcome": "late"},
        ],
        [
            {"callId": "call_1", "latencyMs": 1200},
            {"callId": "call 1", "latencyMs": 1200, "outcome": "answered"},
            {"callId": "call_1", "latencyMs": -1, "outcome": "answered"},
            {"callId": "call_1", "latencyMs": 3_600_001, "outcome": "answered"},
            {"callId": "call_1", "latencyMs": 12.5, "outcome": "answered"},
            {"callId": "call_1", "latencyMs": 1200, "outcome": "slow"},
            {"callId": "call_1", "latencyMs": 1200, "outcome": "answered", "x": 1},
        ],
    ),
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_each_body_schema_accepts_what_the_code_accepts(spec, name):
    """Sample bodies: the schema (jsonschema, 2020-12) and the code's parser agree."""
    import jsonschema

    declaration, good, bad = SAMPLES[name]
    assert declaration.name == name
    document = {"$ref": f"{REF}{name}", "components": spec["components"]}
    validator = jsonschema.Draft202012Validator(document, format_checker=None)
    for body in good:
        assert not list(validator.iter_errors(body)), body
        declaration.parse(body)
    for body in bad:
        assert list(validator.iter_errors(body)), body
        with pytest.raises(errors.InvalidRequest):
            declaration.parse(body)


def test_the_script_rewrites_the_generated_schemas_and_nothing_else(tmp_path, capsys):
    text = SPEC_PATH.read_text(encoding="utf-8")
    admission = text.index("    AgentAdmission:\n")
    hand_written = ("summary: This document.", "summary: This very document.")
    drifted = text[:admission].replace("maxLength: 4000", "maxLength: 4001")
    drifted = drifted.replace("maxLength: 500\n", "maxLength: 400\n").replace(*hand_written)
    for changed in (hand_written[1], "maxLength: 4001", "maxLength: 400\n"):
        assert drifted.count(changed) == 1, changed
    path = tmp_path / "openapi.yaml"
    path.write_text(drifted, encoding="utf-8")

    assert generator.main(["--check", "--spec", str(path)]) == 1
    assert "scripts/openapi.py --write" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == drifted  # --check writes nothing
    assert generator.main(["--write", "--spec", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == text.replace(*hand_written)
    assert generator.main(["--check", "--spec", str(path)]) == 0


def test_the_script_runs_from_the_command_line():
    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "scripts/openapi.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
