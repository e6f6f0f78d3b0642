"""Security properties of the templates: no keys, RBAC everywhere, and no secret that leaves
Key Vault (outputs, app settings and module parameters are followed)."""

from __future__ import annotations

import pytest

from tests.infra.bicep import (
    LIST_FUNCTION,
    accessor_path,
    bicep_files,
    function_call,
    main,
    module_call,
    module_calls,
    references,
    template,
)


def test_storage_has_no_usable_keys_and_no_public_blobs():
    account = template("app/storage.bicep").one("Microsoft.Storage/storageAccounts")
    assert account.get("properties.allowSharedKeyAccess") is False
    assert account.get("properties.allowBlobPublicAccess") is False
    assert account.get("properties.minimumTlsVersion") == "TLS1_2"
    assert account.get("properties.supportsHttpsTrafficOnly") is True
    assert account.get("properties.defaultToOAuthAuthentication") is True
    container = template("app/storage.bicep").one(
        "Microsoft.Storage/storageAccounts/blobServices/containers"
    )
    assert container.get("properties.publicAccess") == "None"


def test_key_vault_uses_rbac_soft_delete_and_purge_protection_by_default():
    tpl = template("app/keyvault.bicep")
    vault = tpl.one("Microsoft.KeyVault/vaults")
    assert vault.get("properties.enableRbacAuthorization") is True
    assert vault.get("properties.enableSoftDelete") is True
    assert "accessPolicies" not in vault.get("properties")
    # Purge protection: a parameter, on unless turned off; ARM refuses an explicit false.
    purge = vault.get("properties.enablePurgeProtection")["operator"]
    assert purge["type"] == "conditional"
    assert purge["operands"] == {
        "condition": "enablePurgeProtection",
        "true_value": True,
        "false_value": None,
    }
    assert tpl.params["enablePurgeProtection"]["default"] is True
    module, _ = module_call("keyVault")
    assert module.get("params.enablePurgeProtection") == "keyVaultEnablePurgeProtection"
    assert main().params["keyVaultEnablePurgeProtection"]["default"] is True


def test_key_vault_holds_the_signing_key_and_optionally_the_voice_key():
    tpl = template("app/keyvault.bicep")
    secrets = {s.get("name"): s for s in tpl.of_type("Microsoft.KeyVault/vaults/secrets")}
    assert set(secrets) == {"auth-signing-key", "voice-live-api-key"}
    assert secrets["auth-signing-key"].condition is None
    assert secrets["auth-signing-key"].get("properties.value") == "authSigningKey"
    voice = secrets["voice-live-api-key"]
    assert voice.get("properties.value") == "voiceLiveApiKey"
    assert references(voice.condition) == {"voiceLiveApiKey"}  # if (!empty(voiceLiveApiKey))
    assert tpl.params["voiceLiveApiKey"]["default"] == ""


def test_signing_key_is_random_at_deploy_time_and_long_enough():
    root = main()
    for name in ("authSigningKey", "authSigningKeyFiller"):
        param = root.params[name]
        assert name in root.secure_params()
        assert param["default"] == "${newGuid()}${newGuid()}"
    # What reaches Key Vault is the key, padded with random filler when shorter than 32.
    value = root.variables["signingKeyValue"]["operator"]
    assert value["type"] == "conditional"
    assert value["operands"]["true_value"] == "authSigningKey"
    assert value["operands"]["false_value"] == "${authSigningKey}${authSigningKeyFiller}"
    module, _ = module_call("keyVault")
    assert module.get("params.authSigningKey") == "signingKeyValue"


def test_web_pubsub_and_app_insights_and_voice_live_have_local_auth_disabled():
    wps = template("app/webpubsub.bicep").one("Microsoft.SignalRService/webPubSub")
    assert wps.get("properties.disableLocalAuth") is True
    assert wps.get("properties.disableAadAuth") is False
    hub = template("app/webpubsub.bicep").one("Microsoft.SignalRService/webPubSub/hubs")
    assert hub.get("properties.anonymousConnectPolicy") == "deny"
    assert hub.get("properties.eventHandlers") == []
    appi = template("app/monitoring.bicep").one("Microsoft.Insights/components")
    assert appi.get("properties.DisableLocalAuth") is True
    voice = template("app/voice.bicep").one("Microsoft.CognitiveServices/accounts")
    assert voice.get("properties.disableLocalAuth") is True
    assert voice.get("kind") == "AIServices"
    assert voice.get("properties.customSubDomainName") == "name"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.name)
def test_no_template_reads_keys_back(path):
    # listKeys(), listSecrets(), listConnectionStrings()... would put a key into the deployment.
    text = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("//")
    )
    assert not LIST_FUNCTION.search(text), f"{path.name} calls a list*() function"
    assert "primaryKey" not in text and "connectionString" not in text.replace(
        "ConnectionString", ""
    )


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.name)
def test_no_output_carries_a_secret(path):
    tpl = template(path)
    tainted = tpl.tainted()
    for name, value in tpl.outputs.items():
        assert not references(value) & tainted, f"{tpl.name}: output {name} reads a secret"
        for word in ("secret", "password", "key"):
            assert word not in name.lower() or name in {
                "AZURE_KEY_VAULT_NAME",
                "KEY_VAULT_URL",
            }, f"{tpl.name}: output {name} is named like a secret"


def test_secrets_only_flow_into_secure_module_params():
    root = main()
    tainted = root.tainted()
    assert tainted >= {"authSigningKey", "authSigningKeyFiller", "voiceLiveApiKey"}
    for module, tpl in module_calls():
        for param, value in module.get("params").items():
            if references(value) & tainted:
                assert param in tpl.secure_params(), (
                    f"{module.symbol}.{param} receives a secret but is not @secure()"
                )


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.name)
def test_secrets_are_only_written_to_key_vault_secrets(path):
    tpl = template(path)
    tainted = tpl.tainted()
    for block in tpl.resources.values():
        if not references(block.body) & tainted:
            continue
        assert block.type == "Microsoft.KeyVault/vaults/secrets", (
            f"{tpl.name}:{block.symbol} ({block.type}) reads a secret"
        )
        body = dict(block.body)
        value = body["properties"].get("value")
        rest = {k: v for k, v in body["properties"].items() if k != "value"}
        assert not references(rest) & tainted
        assert references(value) & tainted


def app_settings() -> dict[str, object]:
    """The Function App's app settings, name -> value expression."""
    site = template("app/functions.bicep").one("Microsoft.Web/sites")
    settings = site.get("properties.siteConfig.appSettings")
    names = [entry["name"] for entry in settings]
    assert len(names) == len(set(names)), "an app setting is listed twice"
    return {entry["name"]: entry["value"] for entry in settings}


def test_no_app_setting_carries_a_secret_value():
    functions = template("app/functions.bicep")
    assert not functions.secure_params()
    tainted = functions.tainted()
    for name, value in app_settings().items():
        if isinstance(value, str) and value.startswith("@Microsoft.KeyVault("):
            continue  # a Key Vault reference is resolved by the platform: fine
        assert not references(value) & tainted, f"{name} reads a secret"
        text = str(value).lower()
        for marker in ("accountkey=", "accesskey=", "sharedaccesskey", "password"):
            assert marker not in text, f"{name} looks like it holds a key"
    # No secret reaches the functions module in the first place (see the module-param test).
    module, _ = module_call("functions")
    assert not references(module.get("params")) & main().tainted()


def test_function_app_is_https_only_with_tls_12_and_no_basic_auth_publishing():
    tpl = template("app/functions.bicep")
    site = tpl.one("Microsoft.Web/sites")
    assert site.get("properties.httpsOnly") is True
    assert site.get("properties.siteConfig.minTlsVersion") == "1.2"
    policies = {
        p.get("name"): p.get("properties.allow")
        for p in tpl.of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    }
    assert policies == {"ftp": False, "scm": False}


def test_cors_allows_only_the_static_site_and_the_extra_origins():
    site = template("app/functions.bicep").one("Microsoft.Web/sites")
    cors = site.get("properties.siteConfig.cors")
    assert cors == {"allowedOrigins": "allowedOrigins", "supportCredentials": False}
    module, _ = module_call("functions")
    union = function_call(module.get("params.allowedOrigins"), "union")
    assert union is not None
    first, extra = union["arg_1"], union["arg_2"]
    assert [accessor_path(item) for item in first] == [["staticWeb", "outputs", "uri"]]
    assert extra == "corsAllowedOrigins"
    assert main().params["corsAllowedOrigins"]["default"] == []
    # The origin is exactly the site's: scheme and default host name, no path, no wildcard.
    web = template("app/staticweb.bicep")
    assert web.outputs["uri"] == "https://${web.properties.defaultHostname}"
    for name in ("main.bicep", "app/functions.bicep", "app/staticweb.bicep"):
        assert "'*'" not in template(name).text, f"{name}: a wildcard"
    # No cycle: the site's origin flows into the Function App, never the other way.
    staticweb_module, _ = module_call("staticWeb")
    assert not references(staticweb_module.get("params")) & {"functions", "staticWebBackend"}
