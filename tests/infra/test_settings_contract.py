"""The settings contract: what the code reads (voicea2a.config.SETTINGS), what a developer sets
(local.settings.example.json) and what Azure gets (the Function App's app settings in
infra/app/functions.bicep) agree. Any drift between the three fails here."""

from __future__ import annotations

import json

from tests.infra.bicep import ROOT, template
from voicea2a import config
from voicea2a.secrets import secret_env_name

EXAMPLE = ROOT / "local.settings.example.json"

# Required `host` settings that Azure provides another way, so they are never app settings.
PROVIDED_OTHERWISE_IN_AZURE = {
    # Flex Consumption refuses this app setting; functionAppConfig.runtime sets the worker.
    "FUNCTIONS_WORKER_RUNTIME",
}


def bicep_settings() -> dict[str, object]:
    site = template("app/functions.bicep").one("Microsoft.Web/sites")
    return {
        entry["name"]: entry["value"] for entry in site.get("properties.siteConfig.appSettings")
    }


def example_values() -> dict[str, str]:
    return json.loads(EXAMPLE.read_text())["Values"]


def specs(*scopes: str) -> list[config.SettingSpec]:
    return [spec for spec in config.SETTINGS if spec.scope in scopes]


def test_scopes_are_the_four_known_ones():
    assert {spec.scope for spec in config.SETTINGS} <= {
        config.APP,
        config.HOST,
        config.PLATFORM,
        config.LOCAL,
    }
    assert len(config.SETTING_NAMES) == len(set(config.SETTING_NAMES))


def test_every_required_app_and_host_setting_is_set_in_azure():
    in_bicep = set(bicep_settings())
    missing = [
        spec.name
        for spec in specs(config.APP, config.HOST)
        if spec.required
        and spec.name not in in_bicep
        and spec.name not in PROVIDED_OTHERWISE_IN_AZURE
    ]
    assert not missing, f"required settings missing from infra/app/functions.bicep: {missing}"


def test_settings_azure_provides_otherwise_really_are():
    for name in PROVIDED_OTHERWISE_IN_AZURE:
        spec = next(spec for spec in config.SETTINGS if spec.name == name)
        assert spec.scope == config.HOST
        assert name not in bicep_settings()
    site = template("app/functions.bicep").one("Microsoft.Web/sites")
    assert (
        site.get("properties.functionAppConfig.runtime.name")
        == example_values()["FUNCTIONS_WORKER_RUNTIME"]
    )


def test_no_app_setting_in_bicep_is_unknown_to_the_code():
    unknown = set(bicep_settings()) - set(config.SETTING_NAMES)
    assert not unknown, (
        f"app settings in infra/app/functions.bicep that voicea2a.config.SETTINGS does not "
        f"list: {sorted(unknown)}"
    )


def test_no_local_or_platform_setting_is_set_in_azure():
    in_bicep = set(bicep_settings())
    wrong = [spec.name for spec in specs(config.LOCAL, config.PLATFORM) if spec.name in in_bicep]
    assert not wrong, f"local-only or platform settings in infra/app/functions.bicep: {wrong}"
    # The key-based forms in particular: storage and Web PubSub go through identities.
    assert "AzureWebJobsStorage" not in in_bicep
    assert "WEBPUBSUB_CONNECTION_STRING" not in in_bicep


def test_no_secret_is_an_app_setting():
    in_bicep = set(bicep_settings())
    for secret in config.SECRETS:
        assert secret_env_name(secret.name) not in in_bicep, secret.name


def test_every_app_host_and_local_setting_is_in_the_example_file():
    values = example_values()
    missing = [
        spec.name
        for spec in specs(config.APP, config.HOST, config.LOCAL)
        if spec.name not in values
    ]
    assert not missing, f"settings missing from local.settings.example.json: {missing}"


def test_the_example_file_has_nothing_the_code_does_not_read():
    values = example_values()
    known = set(config.SETTING_NAMES) | {secret_env_name(s.name) for s in config.SECRETS}
    unknown = sorted(set(values) - known)
    assert not unknown, f"local.settings.example.json sets what no code reads: {unknown}"
    platform = [spec.name for spec in specs(config.PLATFORM) if spec.name in values]
    assert not platform, f"platform settings must not be set locally: {platform}"


def test_the_values_azure_gets_load():
    # What the code would see in Azure: constants as written, parameters at their defaults in
    # functions.bicep, and plausible values for what only exists once deployed.
    functions = template("app/functions.bicep")
    main = template("main.bicep")
    deployed = {
        "AzureWebJobsStorage__tableServiceUri": "https://st.table.core.windows.net/",
        "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000001",
        "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
        "VOICE_TOKEN_IDENTITY_CLIENT_ID": "00000000-0000-0000-0000-000000000002",
        "TASKHUB_NAME": main.params["taskHubName"]["default"],
        "KEY_VAULT_URL": "https://kv.vault.azure.net/",
        "WEBPUBSUB_ENDPOINT": "https://wps.webpubsub.azure.com",
        "WEBPUBSUB_HUB": main.params["webPubSubHubName"]["default"],
        "VOICE_LIVE_ENDPOINT": "https://ais.services.ai.azure.com",
        "AzureWebJobsStorage__blobServiceUri": "https://st.blob.core.windows.net/",
        "AzureWebJobsStorage__queueServiceUri": "https://st.queue.core.windows.net/",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-03",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=0000-01;Authorization=AAD",
        # main.bicep passes its Azure default when the parameter is left empty (its default).
        "AGENT_HEALTH_SCHEDULE": main.variables["defaultAgentHealthSchedule"],
    }
    env = {"WEBSITE_INSTANCE_ID": "instance"}  # set by Azure: dev sign-in must then stay off
    for name, value in bicep_settings().items():
        if name not in config.SETTING_NAMES:
            continue
        if name in deployed:
            env[name] = deployed[name]
        elif isinstance(value, str) and value in functions.params:
            default = functions.params[value].get("default")
            assert default is not None, f"{name}: give it a plausible value in this test"
            env[name] = default
        else:
            assert isinstance(value, str) and "${" not in value, f"{name}: {value!r}"
            env[name] = value
    settings = config.load_settings(env)
    assert settings.auth.dev_login_enabled is False
    assert settings.voice.auth_mode == "entra"
    assert settings.storage.uses_identity
    assert settings.key_vault_url == "https://kv.vault.azure.net"
