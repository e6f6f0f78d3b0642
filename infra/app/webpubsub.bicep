// Azure Web PubSub: live events to the browser. Access keys are disabled: the Function App
// publishes and mints client tokens with its identity (Web PubSub Service Owner, rbac.bicep).
// Browsers connect with the per-user tokens from POST /api/events/negotiate; no upstream event
// handler is configured (the app never receives client events).

param name string
param location string
param tags object

@description('Standard_S1 (1,000 connections per unit, SLA) or Free_F1 (20 connections, 20,000 messages a day, no SLA: development only).')
@allowed([
  'Free_F1'
  'Standard_S1'
])
param sku string = 'Standard_S1'

@description('Units (Standard_S1 only; Free_F1 is always 1).')
@minValue(1)
param capacity int = 1

@description('The hub the app publishes to (WEBPUBSUB_HUB).')
param hubName string

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  // checkov:skip=CKV_AZURE_176:No upstream event handler calls out from the service, so a managed identity of its own would be unused; the app reaches it with the app identity.
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    tier: sku == 'Free_F1' ? 'Free' : 'Standard'
    capacity: sku == 'Free_F1' ? 1 : capacity
  }
  properties: {
    disableLocalAuth: true
    disableAadAuth: false
    publicNetworkAccess: 'Enabled'
    tls: {
      clientCertEnabled: false
    }
  }
}

resource hub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = {
  parent: webPubSub
  name: hubName
  properties: {
    anonymousConnectPolicy: 'deny'
    eventHandlers: []
  }
}

output name string = webPubSub.name
output endpoint string = 'https://${webPubSub.properties.hostName}'
output hubName string = hub.name
