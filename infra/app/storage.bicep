// The one storage account: the Functions host (AzureWebJobsStorage), Durable Functions' task hub
// (queues and tables), the app's own tables (conversations, messages, agents, ratelimits, audit;
// the app creates them on first use) and the Flex Consumption deployment package container.
// Keys are disabled: every client uses Entra ID (the app identity's roles are in rbac.bicep).

param name string
param location string
param tags object

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_59:Public network access stays on: Flex Consumption without VNet integration reaches storage over its public endpoint; shared keys are off and only principals with a data role get in.
  // checkov:skip=CKV_AZURE_35:No VNet: Flex Consumption reaches storage over the public endpoint; shared keys are off, so only Entra ID principals with a data role get in.
  // checkov:skip=CKV_AZURE_206:Locally redundant is enough: the data is a task hub, rate-limit windows, audit and conversation history that a regional outage makes moot.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
