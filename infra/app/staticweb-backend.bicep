// Links the Function App as the static site's /api backend (Standard plan only). Off by default:
// the linked-backend proxy replaces the browser's Authorization header with its own token, and the
// link turns on App Service Authentication restricted to the site, which would lock out the A2A
// agents and every direct caller. Turn it on only once the API accepts that (docs/deploy.md).

param staticWebAppName string

@description('Resource id of the Function App.')
param backendResourceId string

@description('Region of the Function App.')
param backendLocation string

resource web 'Microsoft.Web/staticSites@2024-04-01' existing = {
  name: staticWebAppName
}

resource backend 'Microsoft.Web/staticSites/linkedBackends@2024-04-01' = {
  parent: web
  name: 'api'
  properties: {
    backendResourceId: backendResourceId
    region: backendLocation
  }
}
