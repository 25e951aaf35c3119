// The function app on the Flex Consumption plan (FC1, Linux, Python 3.11), running as the
// user-assigned identity. App settings: identity-based storage for the Functions host
// (AzureWebJobsStorage__*; no connection string, no account key), Application Insights with
// Entra ID ingestion, and every setting of the configuration contract (design.md), the two secret
// ones as Key Vault references; with a certificate, SYNC_CLIENT_CERTIFICATE (a Key Vault reference
// to the certificate's secret) replaces SYNC_CLIENT_SECRET, which is then empty. The optional schedule overrides (SYNC_<MAPPING>_SCHEDULE,
// CUSTOMER_STATISTICS_SCHEDULE, ...) are left out: the defaults are BC's.
param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

param storageAccountName string

@description('https://<account>.blob.core.windows.net/<container> holding the deployment package.')
param deploymentContainerUrl string

param applicationInsightsConnectionString string

@description('Versionless Key Vault URI of the client secret.')
param clientSecretUri string

@description('Versionless Key Vault URI of the secret of the client certificate; empty: sign in with the client secret.')
param clientCertificateSecretUri string = ''

@description('Versionless Key Vault URI of the webhook secret.')
param webhookSecretUri string

param syncTenantId string
param syncClientId string
param syncAuthorityHost string
param bcApiUrl string
param bcCompanyId string
param bcScope string
param dataverseUrl string

@description('Upper bound of instances: keeps the parallel load on BC and Dataverse (both throttle) bounded.')
param maximumInstanceCount int = 40

@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Zone redundancy is available for Flex Consumption only in some regions; the sync is at-least-once and resumes from its watermarks and queues after an outage. Set zoneRedundant where the region supports it and the customer needs it.
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

resource site 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_17:No client certificates: Dataverse webhooks and BC subscription notifications cannot present one. The webhook routes authenticate each call instead (x-webhook-secret, BC clientState HMAC); the other routes need a function key.
  //checkov:skip=CKV_AZURE_222:Public network access is required: Dataverse and BC call the webhook routes from the internet.
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales instances on demand (and to zero); there is no fixed instance count to set. Always-ready instances would add a standing cost the sync does not need (queues absorb a cold start).
  //checkov:skip=CKV_AZURE_213:No platform health check: it would call /api/health without the function key that route requires, so every instance would look unhealthy. Monitor /api/health with the key instead (docs/operations.md).
  name: name
  location: location
  // azd finds the service `api` of azure.yaml by this tag
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // Functions host storage, identity-based (host.json queues, timers, leases)
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storageAccountName
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        // azure-identity in the app picks the user-assigned identity by this
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // the configuration contract (design.md)
        {
          name: 'SYNC_TENANT_ID'
          value: syncTenantId
        }
        {
          name: 'SYNC_CLIENT_ID'
          value: syncClientId
        }
        // exactly one credential: the client secret, or the certificate (an empty setting is unset)
        {
          name: 'SYNC_CLIENT_SECRET'
          value: empty(clientCertificateSecretUri) ? '@Microsoft.KeyVault(SecretUri=${clientSecretUri})' : ''
        }
        {
          name: 'SYNC_CLIENT_CERTIFICATE'
          value: empty(clientCertificateSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${clientCertificateSecretUri})'
        }
        {
          name: 'SYNC_AUTHORITY_HOST'
          value: syncAuthorityHost
        }
        {
          name: 'BC_API_URL'
          value: bcApiUrl
        }
        {
          name: 'BC_COMPANY_ID'
          value: bcCompanyId
        }
        {
          name: 'BC_SCOPE'
          value: bcScope
        }
        {
          name: 'DATAVERSE_URL'
          value: dataverseUrl
        }
        {
          name: 'WEBHOOK_SECRET'
          value: '@Microsoft.KeyVault(SecretUri=${webhookSecretUri})'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No user name / password publishing: azd deploys with Entra ID (OneDeploy to the package
// container), FTP is never used.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
