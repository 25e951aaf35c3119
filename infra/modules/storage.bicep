// The one storage account of the app: the Functions host (blob leases, timer state, queue
// triggers, poison queues), the deployment package container, and all sync state (tables
// bcsync*, queues sync-records, sync-control, sync-documents). Entra ID only: shared keys off, so
// no connection string or account key exists anywhere in the app settings.
param name string
param location string
param tags object
param deploymentContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:No network rules (default Allow): a Flex Consumption app without virtual network integration, and the platform's deployment service, reach the account over its public endpoint. Access needs Entra ID + RBAC (shared keys are off). Private networking (VNet integration, private endpoints) is a follow-up.
  //checkov:skip=CKV_AZURE_59:Public network access stays enabled, for the reason given at CKV_AZURE_35.
  //checkov:skip=CKV_AZURE_206:Locally redundant storage (three synchronous copies in one datacenter) for queues, host state and sync state; not every Flex Consumption region has zones for ZRS. Pick Standard_ZRS or Standard_GZRS here where the customer needs zone or region resilience.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// Flex Consumption reads the app package from this container (functionAppConfig.deployment).
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = storage.name
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
