// Key Vault for the two secrets of the configuration contract. RBAC authorization (no access
// policies), soft delete and purge protection. The app reads the secrets through Key Vault
// references in its app settings, resolved with the user-assigned identity (Key Vault Secrets
// User on this vault). Instead of the client secret, the app may sign in with a Key Vault
// certificate of this vault (created by the operator, not by this template): its private key is
// readable as the secret of the same name. Rotation: docs/operations.md.
param name string
param location string
param tags object

@secure()
@description('The client secret; empty when the app signs in with a certificate.')
param clientSecret string = ''

@description('Name of the Key Vault certificate the app signs in with; empty: the client secret.')
param clientCertificateName string = ''

@secure()
param webhookSecret string

@description('Principal id of the app identity: Key Vault Secrets User.')
param readerPrincipalId string

@description('Principal id of the operator (may be empty): Key Vault Secrets Officer and Certificates Officer, to rotate the secrets and the certificate.')
param operatorPrincipalId string = ''

var clientSecretName = 'sync-client-secret'
var webhookSecretName = 'webhook-secret'
var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
var secretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
var certificatesOfficerRoleId = 'a4417e6f-fecd-4de8-b567-7b0420556985' // Key Vault Certificates Officer

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  //checkov:skip=CKV_AZURE_109:No firewall (default Allow): Key Vault references of a Flex Consumption app without virtual network integration are resolved from shared platform addresses that a vault firewall would block. Every read needs Entra ID + RBAC (Key Vault Secrets User). Private networking is a follow-up.
  //checkov:skip=CKV_AZURE_189:Public network access stays enabled, for the reason given at CKV_AZURE_109.
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
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource clientSecretEntry 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(clientSecret)) {
  //checkov:skip=CKV_AZURE_114:contentType is set below; checkov does not see the properties of a conditional resource (the secret exists only when the app signs in with a client secret).
  //checkov:skip=CKV_AZURE_41:No Key Vault expiry: the client secret expires where it is issued (Entra ID, chosen when it is created) and the webhook secret has no natural lifetime; an expiry here would only make the app fail to start. Rotation is a runbook step (docs/operations.md).
  parent: vault
  name: clientSecretName
  properties: {
    value: clientSecret
    contentType: 'text/plain'
  }
}

resource webhookSecretEntry 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No Key Vault expiry: the client secret expires where it is issued (Entra ID, chosen when it is created) and the webhook secret has no natural lifetime; an expiry here would only make the app fail to start. Rotation is a runbook step (docs/operations.md).
  parent: vault
  name: webhookSecretName
  properties: {
    value: webhookSecret
    contentType: 'text/plain'
  }
}

resource appReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, readerPrincipalId, secretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorManagesSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, secretsOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficerRoleId)
    principalId: operatorPrincipalId
  }
}

resource operatorManagesCertificates 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, certificatesOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', certificatesOfficerRoleId)
    principalId: operatorPrincipalId
  }
}

output name string = vault.name
// Versionless URIs (trailing slash): the app always resolves the current version of the secret.
output clientSecretUri string = '${vault.properties.vaultUri}secrets/${clientSecretName}/'
output webhookSecretUri string = '${vault.properties.vaultUri}secrets/${webhookSecretName}/'
// A Key Vault certificate's private key (PFX, base64) is the secret of the same name: read through
// /secrets/, which Key Vault Secrets User allows (/certificates/ gives the public part only).
output clientCertificateSecretUri string = empty(clientCertificateName) ? '' : '${vault.properties.vaultUri}secrets/${clientCertificateName}/'
