// bcsync on Azure (Azure Developer CLI layout): one resource group holding a Flex Consumption
// function app (Python 3.11), its storage account (no shared keys), a user-assigned managed
// identity, Log Analytics + Application Insights, and a Key Vault for the two secrets (or, for
// sign-in, a Key Vault certificate instead of the client secret).
//
// The Bicep CLI cannot be installed on our CI machines: these templates are checked by checkov
// (scripts/checkov.sh) and by tests/unit/test_infra.py only, never compiled there. Keep them plain.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer the Flex Consumption plan.')
param location string

@description('Object id of the operator who runs azd (azd fills AZURE_PRINCIPAL_ID). Gets the storage table/queue data roles for `python -m sync_core` and Key Vault Secrets Officer for rotation. Empty: none.')
param principalId string = ''

// --- the configuration contract (docs/operations.md: azd env set ...) ----------------------------

@description('SYNC_TENANT_ID: Entra tenant of the app registration. Empty: the tenant of this subscription.')
param syncTenantId string = ''

@minLength(1)
@description('SYNC_CLIENT_ID: application (client) id of the app registration used for BC and Dataverse.')
param syncClientId string

@secure()
@description('SYNC_CLIENT_SECRET: client secret of that app registration; stored in Key Vault only. Empty when syncClientCertificateName is given.')
param syncClientSecret string = ''

@description('Name of a Key Vault certificate in the vault of this deployment to sign in with instead of the client secret (SYNC_CLIENT_CERTIFICATE, a Key Vault reference to the secret of that certificate). Empty: the client secret. docs/operations.md, section 1.')
param syncClientCertificateName string = ''

@description('SYNC_AUTHORITY_HOST. Empty: https://login.microsoftonline.com')
param syncAuthorityHost string = ''

@minLength(1)
@description('BC_API_URL: https://api.businesscentral.dynamics.com/v2.0/<tenant>/<environment>/api/v2.0')
param bcApiUrl string

@minLength(1)
@description('BC_COMPANY_ID: the BC company id (GUID).')
param bcCompanyId string

@description('BC_SCOPE. Empty: https://api.businesscentral.dynamics.com/.default')
param bcScope string = ''

@minLength(1)
@description('DATAVERSE_URL: organization URL, e.g. https://contoso.crm.dynamics.com')
param dataverseUrl string

@secure()
@minLength(16)
@description('WEBHOOK_SECRET: the x-webhook-secret value Dataverse sends; stored in Key Vault only.')
param webhookSecret string

var tags = { 'azd-env-name': environmentName }
var token = toLower(uniqueString(subscription().id, environmentName, location))
var functionAppName = 'func-bcsync-${token}'

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-bcsync-${token}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stbcsync${token}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-bcsync-${token}'
    applicationInsightsName: 'appi-bcsync-${token}'
    location: location
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-bcsync-${take(token, 10)}'
    location: location
    tags: tags
    clientSecret: syncClientSecret
    clientCertificateName: syncClientCertificateName
    webhookSecret: webhookSecret
    readerPrincipalId: identity.outputs.principalId
    operatorPrincipalId: principalId
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    operatorPrincipalId: principalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  // the identity must hold its storage and Key Vault roles before the host first starts
  dependsOn: [
    roles
    keyVault
  ]
  params: {
    name: functionAppName
    planName: 'plan-bcsync-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    clientSecretUri: keyVault.outputs.clientSecretUri
    clientCertificateSecretUri: keyVault.outputs.clientCertificateSecretUri
    webhookSecretUri: keyVault.outputs.webhookSecretUri
    syncTenantId: empty(syncTenantId) ? tenant().tenantId : syncTenantId
    syncClientId: syncClientId
    syncAuthorityHost: empty(syncAuthorityHost) ? 'https://login.microsoftonline.com' : syncAuthorityHost
    bcApiUrl: bcApiUrl
    bcCompanyId: bcCompanyId
    bcScope: empty(bcScope) ? 'https://api.businesscentral.dynamics.com/.default' : bcScope
    dataverseUrl: dataverseUrl
  }
}

// azd stores these in .azure/<env>/.env; docs/operations.md uses them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = functionApp.outputs.url
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output DATAVERSE_WEBHOOK_URL string = '${functionApp.outputs.url}/api/webhooks/dataverse'
output BC_WEBHOOK_URL string = '${functionApp.outputs.url}/api/webhooks/bc'
