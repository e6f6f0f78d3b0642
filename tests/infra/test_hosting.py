"""The Function App on Flex Consumption, its storage and identities, and the static site."""

from __future__ import annotations

import json

from devhost.functions import index_app, load_app
from tests.infra.bicep import (
    ROOT,
    accessor_path,
    function_call,
    get,
    main,
    module_call,
    output_paths,
    references,
    template,
)
from voicea2a import config


def site():
    return template("app/functions.bicep").one("Microsoft.Web/sites")


def settings() -> dict[str, object]:
    entries = site().get("properties.siteConfig.appSettings")
    return {entry["name"]: entry["value"] for entry in entries}


def test_plan_is_flex_consumption_fc1_on_linux():
    plan = template("app/functions.bicep").one("Microsoft.Web/serverfarms")
    assert plan.get("sku") == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan.get("properties.reserved") is True
    assert site().get("properties.serverFarmId") == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "plan", "operand_2": "id"},
        }
    }
    assert site().get("kind") == "functionapp,linux"


def test_runtime_is_python_311():
    assert site().get("properties.functionAppConfig.runtime") == {
        "name": "python",
        "version": "3.11",
    }


def test_scale_settings_are_parameters_passed_from_main():
    functions = template("app/functions.bicep")
    scale = site().get("properties.functionAppConfig.scaleAndConcurrency")
    assert scale["maximumInstanceCount"] == "maximumInstanceCount"
    assert scale["instanceMemoryMB"] == "instanceMemoryMB"
    assert functions.params["maximumInstanceCount"]["type"] == "int"
    assert functions.params["instanceMemoryMB"]["type"] == "int"
    module, _ = module_call("functions")
    assert module.get("params.maximumInstanceCount") == "functionMaximumInstanceCount"
    assert module.get("params.instanceMemoryMB") == "functionInstanceMemoryMB"
    root = main()
    assert root.params["functionMaximumInstanceCount"]["default"] == 100
    assert root.params["functionInstanceMemoryMB"]["default"] == 2048
    assert root.params["functionAlwaysReadyInstances"]["default"] == 0


def test_an_instance_serves_several_http_requests_at_once():
    # Left unset, Flex Consumption gives a Python app one HTTP request per instance: every voice
    # turn waiting on its delegation would hold (and bill) an instance of its own.
    scale = site().get("properties.functionAppConfig.scaleAndConcurrency")
    assert scale["triggers"] == {"http": {"perInstanceConcurrency": "httpPerInstanceConcurrency"}}
    functions = template("app/functions.bicep")
    assert functions.params["httpPerInstanceConcurrency"]["default"] == 16
    assert decorator(functions.params["httpPerInstanceConcurrency"], "min_value") == 1
    module, _ = module_call("functions")
    assert module.get("params.httpPerInstanceConcurrency") == "functionHttpPerInstanceConcurrency"
    root = main().params["functionHttpPerInstanceConcurrency"]
    assert root["default"] == 16
    assert decorator(root, "min_value") == 1


def test_every_http_function_is_async(app_env):
    # What makes more than one request per instance safe: one worker process per instance on
    # Flex Consumption, and async functions share its event loop instead of queuing for its
    # threads.
    app_env(FUNCTIONS_WORKER_RUNTIME="python", TASKHUB_NAME="hostingtest")
    index = index_app(load_app(ROOT), "api")
    assert len(index.http) >= 19
    assert [info.name for info in index.http if not info.is_async] == []


def test_deployment_package_container_is_read_with_the_app_identity():
    storage = site().get("properties.functionAppConfig.deployment.storage")
    assert storage["type"] == "blobContainer"
    assert storage["value"] == "${storageBlobEndpoint}${deploymentContainerName}"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "appIdentityId",
    }
    # The container the storage module creates is the one the app deploys from.
    functions_module, _ = module_call("functions")
    storage_module, storage_tpl = module_call("storage")
    assert functions_module.get("params.deploymentContainerName") == "deploymentContainerName"
    assert storage_module.get("params.deploymentContainerName") == "deploymentContainerName"
    container = storage_tpl.one("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container.get("name") == "deploymentContainerName"


def test_the_app_runs_as_its_user_assigned_identities_only():
    identity = site().get("identity")
    assert identity["type"] == "UserAssigned"
    assert set(identity["userAssignedIdentities"]) == {
        "'${appIdentityId}'",
        "'${voiceIdentityId}'",
    }
    assert site().get("properties.keyVaultReferenceIdentity") == "appIdentityId"


def test_storage_is_identity_based_with_the_app_identity():
    values = settings()
    assert values["AzureWebJobsStorage__credential"] == "managedidentity"
    assert values["AzureWebJobsStorage__clientId"] == "appIdentityClientId"
    assert "AzureWebJobsStorage" not in values
    module, _ = module_call("functions")
    for kind in ("Blob", "Queue", "Table"):
        assert values[f"AzureWebJobsStorage__{kind.lower()}ServiceUri"] == f"storage{kind}Endpoint"
        path = accessor_path(module.get(f"params.storage{kind}Endpoint"))
        assert path == ["storage", "outputs", f"{kind.lower()}Endpoint"]


def test_app_settings_point_at_the_provisioned_services():
    values = settings()
    expected = {
        "AZURE_CLIENT_ID": "appIdentityClientId",
        "VOICE_TOKEN_IDENTITY_CLIENT_ID": "voiceIdentityClientId",
        "VOICE_LIVE_AUTH_MODE": "entra",
        "AUTH_DEV_LOGIN_ENABLED": "false",
        "KEY_VAULT_URL": "keyVaultUri",
        "WEBPUBSUB_ENDPOINT": "webPubSubEndpoint",
        "WEBPUBSUB_HUB": "webPubSubHub",
        "VOICE_LIVE_ENDPOINT": "voiceLiveEndpoint",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": (
            "ClientId=${appIdentityClientId};Authorization=AAD"
        ),
    }
    assert {name: values.get(name) for name in expected} == expected
    assert accessor_path(values["APPLICATIONINSIGHTS_CONNECTION_STRING"]) == [
        "appInsights",
        "properties",
        "ConnectionString",
    ]
    module, _ = module_call("functions")
    assert output_paths(module, ["keyVaultUri", "webPubSubEndpoint", "webPubSubHub"]) == {
        "keyVaultUri": ["keyVault", "outputs", "uri"],
        "webPubSubEndpoint": ["webPubSub", "outputs", "endpoint"],
        "webPubSubHub": ["webPubSub", "outputs", "hubName"],
    }
    # Voice Live's endpoint comes from voiceAccess, whether it created the account or not.
    voice = accessor_path(module.get("params.voiceLiveEndpoint"))
    assert voice == ["voiceAccess", "outputs", "endpoint"]


def test_voice_live_resource_is_created_only_without_an_existing_one():
    root = main()
    assert root.params["voiceLiveResourceId"]["default"] == ""
    assert root.modules["voiceAccount"].condition == "createVoiceAccount"
    assert root.modules["voiceAccess"].condition is None
    assert root.modules["voiceAccess"].get("dependsOn") == ["rg", "voiceAccount"]


def test_static_site_is_standard_and_the_api_link_is_optional():
    web = template("app/staticweb.bicep")
    site_ = web.one("Microsoft.Web/staticSites")
    assert site_.get("sku") == {"name": "sku", "tier": "sku"}
    assert web.params["sku"]["default"] == "Standard"
    assert main().params["staticWebAppSku"]["default"] == "Standard"
    tags = site_.get("tags")["function"]["parameters"]
    assert tags["arg_2"] == {"'azd-service-name'": "web"}
    link = template("app/staticweb-backend.bicep").one("Microsoft.Web/staticSites/linkedBackends")
    assert link.get("properties.backendResourceId") == "backendResourceId"
    module, _ = module_call("staticWebBackend")
    assert module.condition == "linkStaticWebAppBackend"
    assert main().params["linkStaticWebAppBackend"]["default"] is False
    assert accessor_path(module.get("params.backendResourceId")) == ["functions", "outputs", "id"]


def test_function_app_is_the_azd_api_service():
    tags = site().get("tags")["function"]["parameters"]
    assert tags["arg_1"] == "tags"
    assert tags["arg_2"] == {"'azd-service-name'": "api"}


def test_outputs_give_the_browser_the_api_and_sign_in_settings():
    outputs = main().outputs
    for name in (
        "SERVICE_API_URI",
        "API_BASE_URL",
        "SERVICE_WEB_URI",
        "AUTH_OIDC_ISSUER",
        "AUTH_OIDC_AUDIENCE",
        "AUTH_WEB_CLIENT_ID",
        "AZURE_FUNCTION_NAME",
        "AZURE_KEY_VAULT_NAME",
    ):
        assert name in outputs, name
    assert outputs["API_BASE_URL"] == "${functions.outputs.uri}/api"
    assert get(template("app/functions.bicep").outputs, "uri") == (
        "https://${api.properties.defaultHostName}"
    )


# Regions with Flex Consumption as Azure-Samples/durable-functions-quickstart-python-azd lists them
# (infra/main.bicep), less its early-access eastus2euap.
FLEX_CONSUMPTION_REGIONS = {
    "australiaeast", "australiasoutheast", "brazilsouth", "canadacentral", "centralindia",
    "centralus", "eastasia", "eastus", "eastus2", "francecentral", "germanywestcentral",
    "italynorth", "japaneast", "koreacentral", "northcentralus", "northeurope", "norwayeast",
    "southafricanorth", "southcentralus", "southeastasia", "southindia", "spaincentral",
    "swedencentral", "uaenorth", "uksouth", "ukwest", "westcentralus", "westeurope", "westus",
    "westus2", "westus3",
}  # fmt: skip


def decorator(param: dict, kind: str):
    found = [d["argument"] for d in param["decorators"] if d["type"] == kind]
    assert len(found) == 1, f"{len(found)} @{kind} decorators"
    return found[0]


def test_location_is_limited_to_regions_with_flex_consumption():
    location = main().params["location"]
    allowed = decorator(location, "allowed")
    assert len(allowed) == len(set(allowed))
    assert set(allowed) == FLEX_CONSUMPTION_REGIONS
    # azd still offers it as a region picker, filtered to the allowed list.
    assert decorator(location, "metadata") == {"azd": {"type": "location"}}
    # Everything the Function App plan lives in follows that one parameter.
    for symbol in ("functions", "storage", "monitoring"):
        module, _ = module_call(symbol)
        assert module.get("params.location") == "location", symbol


def test_always_ready_instances_warm_both_scale_groups_a_voice_turn_crosses():
    scale = site().get("properties.functionAppConfig.scaleAndConcurrency")
    choice = scale["alwaysReady"]["operator"]
    assert choice["type"] == "conditional"
    assert references(choice["operands"]["condition"]) == {"alwaysReadyInstances"}
    assert choice["operands"]["false_value"] == []
    groups = {entry["name"]: entry["instanceCount"] for entry in choice["operands"]["true_value"]}
    # POST /api/messages scales in `http`, the delegation orchestration and activities in
    # `durable`: warming one group alone leaves a cold start in the other.
    assert groups == {"http": "alwaysReadyInstances", "durable": "alwaysReadyInstances"}
    functions = template("app/functions.bicep")
    assert functions.params["alwaysReadyInstances"]["default"] == 0
    assert decorator(functions.params["alwaysReadyInstances"], "min_value") == 0
    module, _ = module_call("functions")
    assert module.get("params.alwaysReadyInstances") == "functionAlwaysReadyInstances"
    assert decorator(main().params["functionAlwaysReadyInstances"], "min_value") == 0


def ncrontab_interval_seconds(schedule: str) -> int:
    """Seconds between runs of a six-field NCRONTAB schedule that repeats every N seconds or
    every N minutes (the only shapes the health probe uses)."""
    second, minute, *rest = schedule.split()
    assert len(rest) == 4 and set(rest) == {"*"}, schedule
    if minute == "*" and second.startswith("*/"):
        return int(second[2:])
    assert second.isdigit(), schedule
    if minute == "*":
        return 60
    assert minute.startswith("*/"), schedule
    return int(minute[2:]) * 60


def test_agent_probe_in_azure_is_slower_than_locally_yet_marks_dead_agents_before_expiry():
    root = main()
    # The parameter stays empty unless set (azd maps AGENT_HEALTH_SCHEDULE, empty when unset);
    # empty means main.bicep's Azure default, which the Function App then gets.
    assert root.params["agentHealthSchedule"]["default"] == ""
    choice = root.variables["agentHealthScheduleInAzure"]["operator"]["operands"]
    assert function_call(choice["condition"], "empty") == {"item_to_test": "agentHealthSchedule"}
    assert choice["true_value"] == "defaultAgentHealthSchedule"
    assert choice["false_value"] == "agentHealthSchedule"
    module, _ = module_call("functions")
    assert module.get("params.agentHealthSchedule") == "agentHealthScheduleInAzure"
    assert settings()["AGENT_HEALTH_SCHEDULE"] == "agentHealthSchedule"

    azure = ncrontab_interval_seconds(root.variables["defaultAgentHealthSchedule"])
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    local = ncrontab_interval_seconds(example["AGENT_HEALTH_SCHEDULE"])
    assert local == 30  # the local default stays
    # Slower than Flex Consumption's ~30 s idle scale-in, so the timer does not keep an
    # instance running all day.
    assert azure > 30
    # Fast enough that a dead agent is marked unhealthy (left out of plans), and stays so for
    # the alert's minutes plus one probe, before the registry drops it as expired.
    registry = config.AgentRegistrySettings()
    assert "AGENT_EXPIRY_MINUTES" not in settings()  # Azure runs the code's default
    alert_minutes = template("app/alerts.bicep").params["agentUnhealthyMinutes"]["default"]
    marked_after = registry.failures_before_unhealthy * azure
    assert marked_after + alert_minutes * 60 + azure <= registry.expiry_minutes * 60
