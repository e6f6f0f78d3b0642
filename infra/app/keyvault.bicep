// Key Vault: Azure RBAC only (no access policies), soft delete, purge protection by default.
// It holds the secrets the app reads at run time through voicea2a/secrets.py:
// - auth-signing-key: the HS256 key of the app's own tokens (generated at deploy time);
// - voice-live-api-key: only when one is given (VOICE_LIVE_AUTH_MODE=key, development only).
// auth-signing-key-previous is written by hand during a rotation (docs/deploy.md), never here.
// The app identity reads with Key Vault Secrets User (rbac.bicep).

param name string
param location string
param tags object

@description('Purge protection: a deleted vault or secret cannot be purged before its retention ends. Turn off only for throw-away environments.')
param enablePurgeProtection bool = true

@description('Days a deleted vault or secret can be recovered.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@secure()
@description('Value of the auth-signing-key secret.')
param authSigningKey string

@secure()
@description('Value of the voice-live-api-key secret; empty: the secret is not created.')
param voiceLiveApiKey string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_110:Purge protection is the parameter enablePurgeProtection (default true); ARM refuses an explicit false, so the template leaves it unset when off, which this check cannot read.
  // checkov:skip=CKV_AZURE_42:Soft delete is on; purge protection is the parameter above (default true).
  // checkov:skip=CKV_AZURE_109:No VNet: the Flex Consumption app reaches the vault over its public endpoint; access is Entra ID + RBAC only.
  // checkov:skip=CKV_AZURE_189:Same reason: public network access stays on without VNet integration (docs/deploy.md describes the private option).
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Purge protection cannot be switched off once on, and `false` is refused: leave it unset instead.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource signingKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41:No expiry date: the app needs this key continuously; it is rotated by the documented procedure, and an expiry would stop sign-in.
  parent: vault
  name: 'auth-signing-key'
  properties: {
    value: authSigningKey
    contentType: 'text/plain'
  }
}

resource voiceLiveKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(voiceLiveApiKey)) {
  // checkov:skip=CKV_AZURE_114:contentType is set below; checkov does not read the properties of a conditional (if) resource.
  // checkov:skip=CKV_AZURE_41:No expiry date: the key's lifetime is the Voice Live resource's; rotate it there and here together.
  parent: vault
  name: 'voice-live-api-key'
  properties: {
    value: voiceLiveApiKey
    contentType: 'text/plain'
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
