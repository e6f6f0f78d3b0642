"""azure.yaml and infra/main.parameters.json: what `azd up` reads before the templates."""

from __future__ import annotations

import json
import re

from tests.infra.bicep import INFRA, ROOT, main

AZURE_YAML = ROOT / "azure.yaml"
PARAMETERS = INFRA / "main.parameters.json"


def services() -> dict[str, dict[str, str]]:
    """The `services:` block of azure.yaml: two-space nesting of plain `key: value` lines
    (PyYAML is not a dependency; the file is kept that simple)."""
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    inside = False
    for raw in AZURE_YAML.read_text().splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            inside = line == "services:"
            continue
        if not inside:
            continue
        key, _, value = line.strip().partition(":")
        if indent == 2:
            current = found.setdefault(key, {})
        elif indent == 4 and current is not None:
            current[key] = value.strip()
    return found


def test_azure_yaml_deploys_the_function_app_and_the_static_site():
    assert re.search(r"^name: [a-z0-9-]+$", AZURE_YAML.read_text(), re.M)
    assert services() == {
        "api": {"project": ".", "language": "python", "host": "function", "hooks": ""},
        "web": {"project": "./web", "host": "staticwebapp", "hooks": ""},
    }
    # web/index.html loads web/dist, a build output: it is built before packaging.
    assert "run: cd .. && npm ci --no-audit --no-fund && npm run build" in AZURE_YAML.read_text()


def parameters() -> dict[str, str]:
    data = json.loads(PARAMETERS.read_text())
    return {name: entry["value"] for name, entry in data["parameters"].items()}


def test_parameters_file_names_only_main_parameters_and_every_required_one():
    params = main().params
    given = parameters()
    assert set(given) <= set(params), sorted(set(given) - set(params))
    required = {name for name, p in params.items() if p.get("default") is None}
    assert required <= set(given), sorted(required - set(given))


def test_parameters_come_from_the_azd_environment():
    given = parameters()
    assert given["environmentName"] == "${AZURE_ENV_NAME}"
    assert given["location"] == "${AZURE_LOCATION}"
    assert given["principalId"] == "${AZURE_PRINCIPAL_ID}"
    for name, value in given.items():
        assert re.fullmatch(r"(\$\{[A-Z0-9_]+(=[A-Za-z0-9_]*)?\}|\$\(.+\))", value), (
            f"{name}: {value!r} is not an azd substitution"
        )


def test_signing_key_is_read_back_from_the_vault_on_every_provision():
    # azd reads the current secret (or generates one the first time); main.bicep must then
    # output the vault's name under the name the parameters file reads.
    given = parameters()
    assert given["authSigningKey"] == (
        "$(secretOrRandomPassword ${AZURE_KEY_VAULT_NAME} auth-signing-key)"
    )
    assert "AZURE_KEY_VAULT_NAME" in main().outputs
    assert "authSigningKeyFiller" not in given  # always the template's fresh random default


def test_environment_values_round_trip_through_outputs():
    # Values azd reads from its environment and main.bicep also outputs keep the same name, so a
    # second `azd provision` gets back what the first one set.
    given = parameters()
    outputs = main().outputs
    for name in ("AZURE_RESOURCE_GROUP", "AUTH_OIDC_ISSUER", "AUTH_OIDC_AUDIENCE"):
        assert name in outputs
        assert any(value == f"${{{name}}}" for value in given.values()), name


def test_operations_parameters_come_from_the_azd_environment():
    given = parameters()
    assert given["functionAlwaysReadyInstances"] == "${FUNCTION_ALWAYS_READY_INSTANCES=0}"
    given_concurrency = given["functionHttpPerInstanceConcurrency"]
    assert given_concurrency == "${FUNCTION_HTTP_PER_INSTANCE_CONCURRENCY=16}"
    assert given["agentHealthSchedule"] == "${AGENT_HEALTH_SCHEDULE}"
    assert given["alertEmailAddress"] == "${ALERT_EMAIL_ADDRESS}"


def test_an_unset_variable_never_blanks_a_string_default():
    # azd substitutes an unset variable as '' and passes that '' over a non-empty string default
    # (it leaves the parameter out only when its default is '' too, or when an int or bool does
    # not parse): such a parameter needs `${NAME=default}`, or an empty default resolved in Bicep.
    params = main().params
    for name, value in parameters().items():
        param = params[name]
        default = param.get("default")
        if param["type"] == "string" and isinstance(default, str) and default:
            assert not re.fullmatch(r"\$\{[A-Z0-9_]+\}", value), (
                f"{name}: {value} would replace the default {default!r} with '' when unset"
            )


def test_the_app_package_is_given_its_bytecode_first():
    import yaml

    hooks = yaml.safe_load(AZURE_YAML.read_text())["services"]["api"]["hooks"]
    assert hooks == {
        "prepackage": {
            "posix": {
                "shell": "sh",
                "run": "python3 scripts/package.py --bytecode",
                "continueOnError": False,
            }
        }
    }


def test_the_site_learns_its_api_from_the_deployment_and_forgets_it_after():
    import yaml

    hooks = yaml.safe_load(AZURE_YAML.read_text())["services"]["web"]["hooks"]
    # Written after provisioning (a prepackage hook may run before the output exists).
    assert hooks["predeploy"]["posix"]["run"] == "node ../scripts/write-web-config.mjs"
    assert hooks["postdeploy"]["posix"]["run"] == "rm -f config.json"
    assert all(hook["posix"]["continueOnError"] is False for hook in hooks.values())
    assert "API_BASE_URL" in main().outputs  # what write-web-config.mjs reads
