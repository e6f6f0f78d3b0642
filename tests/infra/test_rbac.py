"""Role assignments: exactly the least-privilege set, each on the one resource it is for, named
guid(scope.id, principalId, roleId), and a voice identity that can do nothing but Voice Live."""

from __future__ import annotations

from tests.infra.bicep import (
    accessor_path,
    bicep_files,
    function_call,
    main,
    module_call,
    module_calls,
    output_paths,
    role_definition_id,
    scope_type,
    template,
)

ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"

# Built-in role definition ids (the same in every tenant).
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
# ...b4, not ...b3: the id Azure lists for "Web PubSub Service Owner".
WEB_PUBSUB_SERVICE_OWNER = "12cf5a90-567b-43ae-8102-96cf46c7d9b4"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
COGNITIVE_SERVICES_USER = "a97b65f3-24c7-4388-baec-2e87135dc908"
AZURE_AI_USER = "53ca6127-db72-4b80-b1b0-d745d6d5456d"  # "Foundry User" in newer docs

STORAGE = "Microsoft.Storage/storageAccounts"
VAULT = "Microsoft.KeyVault/vaults"
WEB_PUBSUB = "Microsoft.SignalRService/webPubSub"
APP_INSIGHTS = "Microsoft.Insights/components"
COGNITIVE_ACCOUNT = "Microsoft.CognitiveServices/accounts"


def assignments_of(tpl, principal_param: str) -> set[tuple[str, str]]:
    """(role id, scope type) of the role assignments in tpl whose principal is the parameter."""
    return {
        (role_definition_id(tpl, ra), scope_type(tpl, ra))
        for ra in tpl.of_type(ROLE_ASSIGNMENT)
        if ra.get("properties.principalId") == principal_param
    }


def test_app_identity_has_exactly_its_data_roles_each_on_its_resource():
    tpl = template("app/rbac.bicep")
    assert assignments_of(tpl, "appPrincipalId") == {
        (STORAGE_BLOB_DATA_OWNER, STORAGE),
        (STORAGE_QUEUE_DATA_CONTRIBUTOR, STORAGE),
        (STORAGE_TABLE_DATA_CONTRIBUTOR, STORAGE),
        (KEY_VAULT_SECRETS_USER, VAULT),
        (WEB_PUBSUB_SERVICE_OWNER, WEB_PUBSUB),
        (MONITORING_METRICS_PUBLISHER, APP_INSIGHTS),
    }
    # The scopes are the resources this deployment created (existing references by name).
    module, _ = module_call("rbac")
    expected = {
        "appPrincipalId": ["identity", "outputs", "appPrincipalId"],
        "storageAccountName": ["storage", "outputs", "name"],
        "keyVaultName": ["keyVault", "outputs", "name"],
        "webPubSubName": ["webPubSub", "outputs", "name"],
        "applicationInsightsName": ["monitoring", "outputs", "applicationInsightsName"],
    }
    assert output_paths(module, expected) == expected


def test_the_deployer_only_manages_key_vault_secrets_and_only_when_known():
    tpl = template("app/rbac.bicep")
    assert assignments_of(tpl, "deployerPrincipalId") == {(KEY_VAULT_SECRETS_OFFICER, VAULT)}
    (deployer,) = [
        ra
        for ra in tpl.of_type(ROLE_ASSIGNMENT)
        if ra.get("properties.principalId") == "deployerPrincipalId"
    ]
    assert deployer.condition is not None  # if (!empty(deployerPrincipalId))
    assert deployer.get("properties.principalType") == "deployerPrincipalType"
    module, _ = module_call("rbac")
    assert module.get("params.deployerPrincipalId") == "principalId"


def test_voice_identity_has_only_its_two_roles_on_the_voice_live_resource():
    tpl = template("app/voice-access.bicep")
    assert assignments_of(tpl, "voicePrincipalId") == {
        (COGNITIVE_SERVICES_USER, COGNITIVE_ACCOUNT),
        (AZURE_AI_USER, COGNITIVE_ACCOUNT),
    }
    assert len(tpl.of_type(ROLE_ASSIGNMENT)) == 2
    (account,) = tpl.of_type(COGNITIVE_ACCOUNT)
    assert account.existing and account.get("name") == "accountName"
    # voice-access is the only module that receives the voice identity's principal id.
    receivers = [
        (module.symbol, param)
        for module, _ in module_calls()
        for param, value in module.get("params").items()
        if accessor_path(value) == ["identity", "outputs", "voicePrincipalId"]
    ]
    assert receivers == [("voiceAccess", "voicePrincipalId")]
    # ...and it runs in the Voice Live resource's resource group, on that resource.
    module, _ = module_call("voiceAccess")
    assert module.get("params.accountName") == "voiceAccountName"
    scope = module.get("scope")["function"]["parameters"]
    assert scope == {
        "resource_group_name": "voiceResourceGroupName",
        "subscription_id": "voiceSubscriptionId",
    }


def test_no_other_template_assigns_roles():
    for path in bicep_files():
        tpl = template(path)
        if tpl.name in ("app/rbac.bicep", "app/voice-access.bicep"):
            continue
        assert not tpl.of_type(ROLE_ASSIGNMENT), f"{tpl.name} assigns roles"


def test_role_assignment_names_are_guid_of_scope_principal_and_role():
    for name in ("app/rbac.bicep", "app/voice-access.bicep"):
        tpl = template(name)
        for ra in tpl.of_type(ROLE_ASSIGNMENT):
            guid = function_call(ra.get("name"), "guid")
            assert guid is not None, f"{name}:{ra.symbol}: name is not guid(...)"
            assert accessor_path(guid["base_string"]) == [ra.get("scope"), "id"]
            assert guid["extra_string_1"] == ra.get("properties.principalId")
            role_var = guid["extra_string_2"]
            assert tpl.resolve(role_var).lower() == role_definition_id(tpl, ra)
            assert set(guid) == {"base_string", "extra_string_1", "extra_string_2"}


def test_managed_identities_are_assigned_as_service_principals():
    for name, principal in (
        ("app/rbac.bicep", "appPrincipalId"),
        ("app/voice-access.bicep", "voicePrincipalId"),
    ):
        tpl = template(name)
        for ra in tpl.of_type(ROLE_ASSIGNMENT):
            if ra.get("properties.principalId") == principal:
                assert ra.get("properties.principalType") == "ServicePrincipal"


def test_role_ids_are_only_known_built_in_roles():
    known = {
        STORAGE_BLOB_DATA_OWNER,
        STORAGE_QUEUE_DATA_CONTRIBUTOR,
        STORAGE_TABLE_DATA_CONTRIBUTOR,
        KEY_VAULT_SECRETS_USER,
        KEY_VAULT_SECRETS_OFFICER,
        WEB_PUBSUB_SERVICE_OWNER,
        MONITORING_METRICS_PUBLISHER,
        COGNITIVE_SERVICES_USER,
        AZURE_AI_USER,
    }
    for name in ("app/rbac.bicep", "app/voice-access.bicep"):
        tpl = template(name)
        for ra in tpl.of_type(ROLE_ASSIGNMENT):
            assert role_definition_id(tpl, ra) in known


def test_identities_are_wired_the_right_way_round():
    root = main()
    identities = root.modules["identity"]
    assert identities.get("params.appIdentityName") != identities.get("params.voiceIdentityName")
    module, _ = module_call("functions")
    params = module.get("params")
    expected = {
        "appIdentityId": ["identity", "outputs", "appIdentityId"],
        "appIdentityClientId": ["identity", "outputs", "appClientId"],
        "voiceIdentityId": ["identity", "outputs", "voiceIdentityId"],
        "voiceIdentityClientId": ["identity", "outputs", "voiceClientId"],
    }
    for param, path in expected.items():
        assert accessor_path(params[param]) == path, param
    identity = template("app/identity.bicep")
    outputs = {name: accessor_path(value) for name, value in identity.outputs.items()}
    assert outputs["appClientId"] == ["app", "properties", "clientId"]
    assert outputs["appPrincipalId"] == ["app", "properties", "principalId"]
    assert outputs["voiceClientId"] == ["voice", "properties", "clientId"]
    assert outputs["voicePrincipalId"] == ["voice", "properties", "principalId"]
