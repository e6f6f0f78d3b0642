// The Voice Live resource, when the deployment creates one: an Azure AI Services (Foundry)
// account with Entra ID only (keys disabled), so browsers can use nothing but the short-lived
// tokens the voice identity mints. Skipped when voiceLiveResourceId names an existing resource.
// Access to it (the voice identity's two roles) is in voice-access.bicep.

param name string

@description('A region where Voice Live is available.')
param location string
param tags object

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  // checkov:skip=CKV_AZURE_238:The account calls no other Azure resource, so a managed identity of its own would be unused.
  // checkov:skip=CKV_AZURE_134:Browsers open their Voice Live WebSocket to this endpoint directly, so it must be public; keys are disabled and tokens come from a dedicated identity.
  name: name
  location: location
  tags: tags
  kind: 'AIServices'
  sku: {
    name: 'S0'
  }
  properties: {
    // The custom subdomain is required for Entra ID tokens.
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

output id string = account.id
output name string = account.name
