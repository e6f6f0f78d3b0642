// Voice A2A on Azure Functions: everything `azd up` provisions.
// Read top to bottom: parameters, names, then one module per concern (infra/app/*.bicep),
// then the outputs azd stores in the environment (.azure/<env>/.env). No output carries a secret.
targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Parameters (infra/main.parameters.json maps them to azd environment values)
// ---------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; part of every resource name, and the azd-env-name tag.')
param environmentName string

// Regions with Flex Consumption, as Azure-Samples/durable-functions-quickstart-python-azd lists
// them (less eastus2euap, an early-access region ordinary subscriptions cannot deploy to): azd
// then offers only these, instead of failing at the plan after creating half the resources.
// `az functionapp list-flexconsumption-locations` gives the current list.
@minLength(1)
@description('Region of everything but the static site (a region with Flex Consumption).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string

@description('Resource group to create; empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the person or pipeline running azd (AZURE_PRINCIPAL_ID); empty: no access for it.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

// Function App (Flex Consumption)
@minValue(40)
@maxValue(1000)
param functionMaximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
param functionInstanceMemoryMB int = 2048

@minValue(1)
@description('HTTP requests one instance serves at once; Flex Consumption would take 1 for a Python app (docs/deploy.md).')
param functionHttpPerInstanceConcurrency int = 16

// Voice callers feel cold starts: the first request after an idle spell waits for an instance
// to start and import the app. Each always-ready instance removes that wait for one instance's
// worth of traffic, and is billed all month whether used or not (docs/operations.md: the cost).
@minValue(0)
@description('Always-ready instances in each of the HTTP and Durable scale groups: 0 scales to zero (cheapest; a cold start after idle).')
param functionAlwaysReadyInstances int = 0

@description('Durable Functions task hub name: letters and digits, 3 to 45 characters.')
param taskHubName string = 'voicea2a'

// Web PubSub
@description('Standard_S1 (SLA, 1,000 connections per unit) or Free_F1 (20 connections, no SLA: development only).')
@allowed([
  'Free_F1'
  'Standard_S1'
])
param webPubSubSku string = 'Standard_S1'

@description('The Web PubSub hub (WEBPUBSUB_HUB): a letter, then letters, digits or underscores.')
param webPubSubHubName string = 'voicea2a'

// Static Web Apps (the browser client)
@allowed([
  'westus2'
  'centralus'
  'eastus2'
  'westeurope'
  'eastasia'
])
param staticWebAppLocation string = 'westeurope'

@allowed([
  'Free'
  'Standard'
])
param staticWebAppSku string = 'Standard'

@description('Link the Function App as the static site\'s /api backend (Standard only). Off: see docs/deploy.md.')
param linkStaticWebAppBackend bool = false

@description('Browser origins allowed by the Function App\'s CORS besides the static site, e.g. a custom domain.')
param corsAllowedOrigins array = []

// Key Vault
@description('Key Vault purge protection (recommended; turn off only for throw-away environments).')
param keyVaultEnablePurgeProtection bool = true

// Secrets (never in outputs or app settings; written to Key Vault only)
@secure()
@description('auth-signing-key. azd passes the vault\'s current value back (secretOrRandomPassword); without azd the default is two fresh GUIDs (244 random bits), i.e. a new key on every deployment.')
param authSigningKey string = '${newGuid()}${newGuid()}' // checkov:skip=CKV_AZURE_131:Not a hard-coded value: newGuid() makes a fresh random key at deployment time.

@secure()
@description('Random filler appended to an auth-signing-key shorter than 32 characters (azd generates 15); never set it.')
param authSigningKeyFiller string = '${newGuid()}${newGuid()}' // checkov:skip=CKV_AZURE_131:Not a hard-coded value: newGuid() makes fresh random filler at deployment time.

@secure()
@description('voice-live-api-key for VOICE_LIVE_AUTH_MODE=key (development only); empty: no secret.')
param voiceLiveApiKey string = ''

// Voice Live
@description('Resource id of an existing Azure AI Services (Foundry) resource for Voice Live; empty: create one.')
param voiceLiveResourceId string = ''

@description('Region of the Voice Live resource this deployment creates; empty: location. Pick a region with Voice Live.')
param voiceLiveLocation string = ''

param voiceLiveApiVersion string = ''
param voiceLiveModel string = ''
param voiceLiveVoice string = ''

// Who may call the API (docs/deploy.md, "Sign-in")
@description('Entra ID issuer of user tokens, https://login.microsoftonline.com/<tenant>/v2.0; empty until the app registration exists.')
param authOidcIssuer string = ''

@description('Audience of user tokens: the API app registration\'s client id or application id URI.')
param authOidcAudience string = ''

@description('Client id of the browser\'s sign-in app registration (an output for the web client; the API does not use it).')
param webClientId string = ''

// Agents
@description('Comma-separated A2A agent base URLs registered at start-up (A2A_AGENT_URLS).')
param a2aAgentUrls string = ''

@description('NCRONTAB schedule of the agent health probe in Azure (six fields, seconds first); empty: every minute.')
param agentHealthSchedule string = ''

@description('The workflow the app follows: playbooks/<name>.json (PLAYBOOK); empty: none. The sample network\'s is contoso.')
param playbook string = 'contoso'

// Operations (infra/app/alerts.bicep)
@description('E-mail address that alert notifications go to; empty: no action group, and the alert rules fire without actions.')
param alertEmailAddress string = ''

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var deploymentContainerName = 'app-package-${resourceToken}'

// Voice Live: an existing resource (its id split into subscription, group and name), or a new one.
// (/subscriptions/<sub>/resourceGroups/<group>/providers/Microsoft.CognitiveServices/accounts/<name>;
// an empty id is split as eight slashes, so the indexes below always exist.)
var createVoiceAccount = empty(voiceLiveResourceId)
var voiceIdParts = split(createVoiceAccount ? '////////' : voiceLiveResourceId, '/')
var voiceSubscriptionId = createVoiceAccount ? subscription().subscriptionId : voiceIdParts[2]
var voiceResourceGroupName = createVoiceAccount ? rg.name : voiceIdParts[4]
var voiceAccountName = createVoiceAccount ? 'ais-${resourceToken}' : voiceIdParts[8]

// The agent probe runs every minute in Azure (every 30 s locally, local.settings.example.json).
// Not every 30 s: Flex Consumption can scale an idle app in after about 30 s without work
// (Azure/azure-functions-host#10706), so a 30 s timer keeps an instance running all day, and it
// bills twice the runs. Not every 5 minutes either: an agent is marked unhealthy (left out of
// plans) at its third failed probe in a row, and dropped from the registry after
// AGENT_EXPIRY_MINUTES (10) without contact; probes 5 minutes apart would drop a dead agent
// before ever marking it, and plan it (callers waiting out its timeout) for those 10 minutes.
// Every minute marks it within 3 minutes and leaves the 5-minute alert time to fire.
var defaultAgentHealthSchedule = '0 * * * * *'
var agentHealthScheduleInAzure = empty(agentHealthSchedule) ? defaultAgentHealthSchedule : agentHealthSchedule

// azd's generated key has 15 characters; HS256 wants at least 32: pad a short one with random filler.
var signingKeyValue = (length(authSigningKey) >= 32) ? authSigningKey : '${authSigningKey}${authSigningKeyFiller}'

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    appIdentityName: 'id-api-${resourceToken}'
    voiceIdentityName: 'id-voice-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    enablePurgeProtection: keyVaultEnablePurgeProtection
    authSigningKey: signingKeyValue
    voiceLiveApiKey: voiceLiveApiKey
  }
}

module webPubSub 'app/webpubsub.bicep' = {
  name: 'webpubsub'
  scope: rg
  params: {
    name: 'wps-${resourceToken}'
    location: location
    tags: tags
    sku: webPubSubSku
    hubName: webPubSubHubName
  }
}

module voiceAccount 'app/voice.bicep' = if (createVoiceAccount) {
  name: 'voice'
  scope: rg
  params: {
    name: voiceAccountName
    location: empty(voiceLiveLocation) ? location : voiceLiveLocation
    tags: tags
  }
}

module voiceAccess 'app/voice-access.bicep' = {
  name: 'voice-access'
  scope: resourceGroup(voiceSubscriptionId, voiceResourceGroupName)
  dependsOn: [
    rg
    voiceAccount
  ]
  params: {
    accountName: voiceAccountName
    voicePrincipalId: identity.outputs.voicePrincipalId
  }
}

module staticWeb 'app/staticweb.bicep' = {
  name: 'staticweb'
  scope: rg
  params: {
    name: 'stapp-${resourceToken}'
    location: staticWebAppLocation
    tags: tags
    sku: staticWebAppSku
  }
}

module functions 'app/functions.bicep' = {
  name: 'functions'
  scope: rg
  params: {
    name: 'func-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    appIdentityId: identity.outputs.appIdentityId
    appIdentityClientId: identity.outputs.appClientId
    voiceIdentityId: identity.outputs.voiceIdentityId
    voiceIdentityClientId: identity.outputs.voiceClientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultUri: keyVault.outputs.uri
    webPubSubEndpoint: webPubSub.outputs.endpoint
    webPubSubHub: webPubSub.outputs.hubName
    voiceLiveEndpoint: voiceAccess.outputs.endpoint
    allowedOrigins: union([staticWeb.outputs.uri], corsAllowedOrigins)
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: functionInstanceMemoryMB
    httpPerInstanceConcurrency: functionHttpPerInstanceConcurrency
    alwaysReadyInstances: functionAlwaysReadyInstances
    taskHubName: taskHubName
    agentHealthSchedule: agentHealthScheduleInAzure
    a2aAgentUrls: a2aAgentUrls
    playbook: playbook
    authOidcIssuer: authOidcIssuer
    authOidcAudience: authOidcAudience
    voiceLiveApiVersion: voiceLiveApiVersion
    voiceLiveModel: voiceLiveModel
    voiceLiveVoice: voiceLiveVoice
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.appPrincipalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    webPubSubName: webPubSub.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: 'alert-${resourceToken}'
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    alertEmailAddress: alertEmailAddress
  }
}

module staticWebBackend 'app/staticweb-backend.bicep' = if (linkStaticWebAppBackend) {
  name: 'staticweb-backend'
  scope: rg
  params: {
    staticWebAppName: staticWeb.outputs.name
    backendResourceId: functions.outputs.id
    backendLocation: location
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd stores them in .azure/<env>/.env; none is a secret)
// ---------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = subscription().tenantId
output AZURE_RESOURCE_GROUP string = rg.name

// The Function App (azd's `api` service).
output AZURE_FUNCTION_NAME string = functions.outputs.name
output SERVICE_API_NAME string = functions.outputs.name
output SERVICE_API_URI string = functions.outputs.uri

// The static site (azd's `web` service).
output STATIC_WEB_APP_NAME string = staticWeb.outputs.name
output SERVICE_WEB_URI string = staticWeb.outputs.uri

// What the browser client needs: where the API is and how users sign in.
output API_BASE_URL string = '${functions.outputs.uri}/api'
output AUTH_OIDC_ISSUER string = authOidcIssuer
output AUTH_OIDC_AUDIENCE string = authOidcAudience
output AUTH_WEB_CLIENT_ID string = webClientId

// Operations: where the secrets and the voice resource are (names and URLs, never values).
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URL string = keyVault.outputs.uri
output WEBPUBSUB_ENDPOINT string = webPubSub.outputs.endpoint
output WEBPUBSUB_HUB string = webPubSub.outputs.hubName
output VOICE_LIVE_ENDPOINT string = voiceAccess.outputs.endpoint
output APP_IDENTITY_CLIENT_ID string = identity.outputs.appClientId
output VOICE_TOKEN_IDENTITY_CLIENT_ID string = identity.outputs.voiceClientId
