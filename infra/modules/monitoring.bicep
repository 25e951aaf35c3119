// Log Analytics workspace + workspace-based Application Insights. Local (instrumentation key)
// authentication is off: telemetry is accepted only with an Entra token, so the app's identity
// gets Monitoring Metrics Publisher (roles.bicep) and the app setting
// APPLICATIONINSIGHTS_AUTHENTICATION_STRING (functionapp.bicep).
param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = applicationInsights.name
// not a secret: with local authentication disabled it only names where to send telemetry
output connectionString string = applicationInsights.properties.ConnectionString
