// The Function App on the Flex Consumption plan (FC1), Python 3.11.
// - Identities: the app identity (storage, Key Vault, Web PubSub, App Insights, the deployment
//   package) and the voice identity (only mints Voice Live tokens; it has no other role).
// - Storage is identity-based (AzureWebJobsStorage__*): the account has no usable keys.
// - App settings: every `app`/`host` setting voicea2a/config.py reads that Azure needs, and no
//   secret: secrets are read at run time from Key Vault (KEY_VAULT_URL). tests/infra checks this
//   list against voicea2a.config.SETTINGS.
// Flex Consumption takes the worker runtime from functionAppConfig.runtime and refuses the
// FUNCTIONS_WORKER_RUNTIME app setting, so it is not set here.

param name string
param planName string
param location string
param tags object

@description('Resource id of the app identity.')
param appIdentityId string
@description('Client id of the app identity.')
param appIdentityClientId string
@description('Resource id of the voice token identity.')
param voiceIdentityId string
@description('Client id of the voice token identity.')
param voiceIdentityClientId string

param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param deploymentContainerName string

param applicationInsightsName string
param keyVaultUri string
param webPubSubEndpoint string
param webPubSubHub string
param voiceLiveEndpoint string

@description('Browser origins allowed by CORS: the static site and any extra ones.')
param allowedOrigins array

@description('Most instances the app scales out to (Flex Consumption: 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// Flex Consumption runs a Python app's HTTP functions one request per instance unless told
// otherwise. A voice turn's POST /api/messages waits on its delegation for about a second while
// using a few ms of CPU (bench/README.md "Instance time per turn"), so at one request per
// instance every turn in flight holds, and bills, an instance of its own. Every HTTP function
// here is async (tests/infra/test_hosting.py): concurrent requests share the worker's event loop.
@description('Most HTTP requests one instance serves at once (Flex Consumption; its default for Python apps is 1).')
@minValue(1)
param httpPerInstanceConcurrency int = 16

@description('Always-ready instances in each of the `http` and `durable` scale groups (0: scale to zero; each one is billed while idle).')
@minValue(0)
param alwaysReadyInstances int = 0

@description('Durable Functions task hub (TASKHUB_NAME): letters and digits, 3 to 45 characters.')
param taskHubName string

@description('NCRONTAB schedule of the agent health probe (AGENT_HEALTH_SCHEDULE); main.bicep picks the Azure default.')
param agentHealthSchedule string

@description('Comma-separated A2A agent URLs registered at start-up (A2A_AGENT_URLS); empty: none.')
param a2aAgentUrls string = ''

@description('The workflow the app follows: playbooks/<name>.json (PLAYBOOK); empty: none.')
param playbook string = ''

@description('Entra ID issuer of user tokens (AUTH_OIDC_ISSUER); set with the audience, or both empty.')
param authOidcIssuer string = ''
@description('Audience of user tokens (AUTH_OIDC_AUDIENCE).')
param authOidcAudience string = ''

@description('Voice Live overrides; empty: the app\'s defaults.')
param voiceLiveApiVersion string = ''
param voiceLiveModel string = ''
param voiceLiveVoice string = ''

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}


resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy is optional on Flex Consumption and not offered in every region; this app keeps its state in storage and Durable Functions, not in instances.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// App Service Authentication (Easy Auth) stays off on purpose: every /api route verifies its own
// bearer JWT (Entra ID or the app's HS256 tokens), and A2A agents call the API too.
resource api 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_78:Flex Consumption refuses siteConfig.ftpsState; FTP is off through the ftp basicPublishingCredentialsPolicies below.
  // checkov:skip=CKV_AZURE_222:Browsers and A2A agents call this app over the internet; every route but health and dev sign-in needs a bearer token.
  // checkov:skip=CKV_AZURE_212:Scale to zero on purpose (cost); functionAlwaysReadyInstances keeps instances warm when wanted.
  // checkov:skip=CKV_AZURE_213:A platform health ping every minute would keep instances from scaling in; GET /api/health serves external availability tests instead.
  // checkov:skip=CKV_AZURE_17:No client certificates: browsers and A2A agents authenticate with bearer tokens.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${appIdentityId}': {}
      '${voiceIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: appIdentityId
    siteConfig: {
      // No secret value: secrets are read at run time from Key Vault (KEY_VAULT_URL).
      // tests/infra/test_settings_contract.py checks this list against voicea2a.config.SETTINGS.
      appSettings: [
        // Functions host and Durable Functions: identity-based storage with the app identity.
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storageBlobEndpoint
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storageQueueEndpoint
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storageTableEndpoint
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: appIdentityClientId
        }
        {
          name: 'TASKHUB_NAME'
          value: taskHubName
        }
        // Telemetry with Entra ID (local auth is disabled on the component).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${appIdentityClientId};Authorization=AAD'
        }
        // The app's identity for Key Vault and Web PubSub; secrets come from the vault.
        {
          name: 'AZURE_CLIENT_ID'
          value: appIdentityClientId
        }
        {
          name: 'KEY_VAULT_URL'
          value: keyVaultUri
        }
        {
          name: 'WEBPUBSUB_ENDPOINT'
          value: webPubSubEndpoint
        }
        {
          name: 'WEBPUBSUB_HUB'
          value: webPubSubHub
        }
        // Who may call the API.
        {
          name: 'AUTH_DEV_LOGIN_ENABLED'
          value: 'false'
        }
        {
          name: 'AUTH_OIDC_ISSUER'
          value: authOidcIssuer
        }
        {
          name: 'AUTH_OIDC_AUDIENCE'
          value: authOidcAudience
        }
        // Voice Live: Entra tokens minted by the voice identity.
        {
          name: 'VOICE_LIVE_ENDPOINT'
          value: voiceLiveEndpoint
        }
        {
          name: 'VOICE_LIVE_AUTH_MODE'
          value: 'entra'
        }
        {
          name: 'VOICE_TOKEN_IDENTITY_CLIENT_ID'
          value: voiceIdentityClientId
        }
        {
          name: 'VOICE_LIVE_API_VERSION'
          value: voiceLiveApiVersion
        }
        {
          name: 'VOICE_LIVE_MODEL'
          value: voiceLiveModel
        }
        {
          name: 'VOICE_LIVE_VOICE'
          value: voiceLiveVoice
        }
        // The agent registry.
        {
          name: 'A2A_AGENT_URLS'
          value: a2aAgentUrls
        }
        {
          name: 'AGENT_HEALTH_SCHEDULE'
          value: agentHealthSchedule
        }
        {
          name: 'PLAYBOOK'
          value: playbook
        }
      ]
      minTlsVersion: '1.2'
      http20Enabled: true
      cors: {
        allowedOrigins: allowedOrigins
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: appIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
        // Flex Consumption scales HTTP functions and Durable functions (orchestrators,
        // activities) in separate groups, and a voice turn crosses both: POST /api/messages runs
        // in `http`, the delegation it starts in `durable`. Warming only `http` would leave the
        // orchestration to a cold start, so both groups get the same count.
        alwaysReady: (alwaysReadyInstances > 0) ? [
          {
            name: 'http'
            instanceCount: alwaysReadyInstances
          }
          {
            name: 'durable'
            instanceCount: alwaysReadyInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No basic-auth publishing credentials: azd and az deploy with Entra ID (docs/deploy.md has the
// one command to allow SCM basic auth again for a tool that still needs it).
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: api
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: api
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = api.id
output name string = api.name
output uri string = 'https://${api.properties.defaultHostName}'
