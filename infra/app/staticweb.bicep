// Static Web Apps hosting the browser client (web/). azd deploys web/ to it (service `web`).
// The browser calls the Function App at its own origin (API_BASE_URL): the Function App's CORS
// allows exactly this site's origin. Linking the Function App as the site's /api backend is
// optional (staticweb-backend.bicep, off by default; docs/deploy.md explains why).

param name string

@description('Static Web Apps regions: westus2, centralus, eastus2, westeurope, eastasia.')
param location string
param tags object

@description('Standard: SLA, linked backends, custom auth; Free: enough for the client alone.')
@allowed([
  'Free'
  'Standard'
])
param sku string = 'Standard'

resource web 'Microsoft.Web/staticSites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'web' })
  sku: {
    name: sku
    tier: sku
  }
  properties: {
    provider: 'Custom'
    allowConfigFileUpdates: true
    // Pull-request environments cannot use linked backends; they are not used.
    stagingEnvironmentPolicy: 'Disabled'
  }
}

output name string = web.name
output uri string = 'https://${web.properties.defaultHostname}'
