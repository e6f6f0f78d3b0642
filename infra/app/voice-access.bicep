// The voice identity's access: Cognitive Services User and Azure AI User (Foundry User) on the
// Voice Live resource, and nothing else anywhere. Deployed in the resource group of the Voice
// Live resource (created by voice.bicep, or an existing one).

@description('Name of the Voice Live (AI Services) account in this resource group.')
param accountName string

@description('Principal id of the voice token identity.')
param voicePrincipalId string

var cognitiveServicesUserRole = 'a97b65f3-24c7-4388-baec-2e87135dc908'
var azureAiUserRole = '53ca6127-db72-4b80-b1b0-d745d6d5456d'

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: accountName
}

resource cognitiveServicesUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, voicePrincipalId, cognitiveServicesUserRole)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesUserRole)
    principalId: voicePrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource azureAiUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, voicePrincipalId, azureAiUserRole)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', azureAiUserRole)
    principalId: voicePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The endpoint the browser's Voice Live WebSocket connects to (VOICE_LIVE_ENDPOINT).
output endpoint string = 'https://${account.properties.customSubDomainName}.services.ai.azure.com'
