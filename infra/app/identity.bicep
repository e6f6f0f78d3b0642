// The two user-assigned identities.
// - app: everything the Function App does (storage, Key Vault, Web PubSub, App Insights,
//   deployment storage). Its roles are in rbac.bicep.
// - voice: used only to mint the short-lived Voice Live tokens the browser receives. Its only
//   roles are on the Voice Live resource (voice-access.bicep), so a leaked token can do nothing else.

@description('Name of the app identity.')
param appIdentityName string

@description('Name of the voice token identity.')
param voiceIdentityName string

param location string
param tags object

resource app 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: appIdentityName
  location: location
  tags: tags
}

resource voice 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: voiceIdentityName
  location: location
  tags: tags
}

output appIdentityId string = app.id
output appClientId string = app.properties.clientId
output appPrincipalId string = app.properties.principalId
output voiceIdentityId string = voice.id
output voiceClientId string = voice.properties.clientId
output voicePrincipalId string = voice.properties.principalId
