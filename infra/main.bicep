// Conduit on Azure Functions: storage, Key Vault, a managed identity, the function app, Application Insights.
//
//   az deployment group create -g <group> -f infra/main.bicep -p infra/main.bicepparam
//
// Hosting: Flex Consumption (default) or Elastic Premium, both Linux, Python 3.11. The Consumption plan is not
// supported: its 10-minute functionTimeout is shorter than Conduit's longest workflows (host.json sets 01:00:00).
//
// Storage credentials: the host and Conduit (shared/storage/account.py) both reach storage with an identity-based
// connection: AzureWebJobsStorage__accountName, __credential=managedidentity and __clientId naming the user-assigned
// identity, which holds the Blob, Queue and Table data roles. No connection string is set for them. The user-assigned
// identity also reads Key Vault and, on Flex Consumption, the deployment container. On Flex Consumption the account
// accepts no shared keys at all. Elastic Premium keeps the app's content on an Azure Files share, which the platform
// mounts only with a connection string (WEBSITE_CONTENTAZUREFILECONNECTIONSTRING): on that plan alone the account
// keeps its keys and that one setting is a Key Vault reference to the connection string.

targetScope = 'resourceGroup'

@description('Short name that starts every resource name (letters and digits; the rest of each name is a hash).')
@minLength(3)
@maxLength(11)
param namePrefix string = 'conduit'

@description('Region of every resource. Flex Consumption is not offered in every region: az functionapp list-flexconsumption-locations')
param location string = resourceGroup().location

@description('Hosting plan: FlexConsumption (default; scales to zero) or ElasticPremium (always-warm instances).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string = 'FlexConsumption'

@description('Elastic Premium size (only with hostingPlan ElasticPremium).')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param premiumSku string = 'EP1'

@description('Flex Consumption: the most instances the app may scale out to.')
@minValue(1)
@maxValue(1000)
param flexMaximumInstanceCount int = 100

@description('Flex Consumption: memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param flexInstanceMemoryMB int = 2048

@description('The platform admin API key (CONDUIT_ADMIN_KEY). Stored in Key Vault; the app reads it by reference.')
@secure()
@minLength(32)
param adminKey string

@description('Create Application Insights (with a Log Analytics workspace) and send the host\'s telemetry to it.')
param enableApplicationInsights bool = true

var isFlex = hostingPlan == 'FlexConsumption'
var token = uniqueString(resourceGroup().id, namePrefix)
var prefix = toLower(namePrefix)
var appName = '${prefix}-${token}'
var deploymentContainerName = 'app-package'
var contentShareName = take(appName, 63)
var storageSecretName = 'storage-connection-string'
var adminKeySecretName = 'conduit-admin-key'

// Built-in role definition ids.
var roles = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

// ---------------------------------------------------------------------------------------------------------------
// Storage: the host's account (timers, leases, keys), Conduit's tables and queues, the deployment package.

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('st${replace(prefix, '-', '')}${token}', 24)
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: !isFlex // only Elastic Premium's content share needs a key (see the top of this file)
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Flex Consumption runs the package uploaded to this container.
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = if (isFlex) {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = if (!isFlex) {
  parent: storage
  name: 'default'
}

// Elastic Premium keeps the app's content on this share. It is created here because its connection string is a
// Key Vault reference, which the platform cannot resolve to create the share itself (WEBSITE_SKIP_CONTENTSHARE_VALIDATION).
resource contentShare 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = if (!isFlex) {
  parent: fileService
  name: contentShareName
}

// ---------------------------------------------------------------------------------------------------------------
// Identity: created before the app, so its roles are in place when the app first resolves its Key Vault references.

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${appName}'
  location: location
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('kv-${replace(prefix, '-', '')}-${token}', 24)
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }
}

// Elastic Premium only: the content share's connection string (Azure Files takes no managed identity there).
resource storageSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!isFlex) {
  parent: vault
  name: storageSecretName
  properties: {
    value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
  }
}

resource adminKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: adminKeySecretName
  properties: {
    value: adminKey
  }
}

resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Blob Data Owner (the host's keys, timers and leases; the Flex deployment container), Queue and Table Data
// Contributor: everything the host (queues for the triggers) and Conduit (its tables, its execution and poison
// queues, which it creates) need through the identity-based AzureWebJobsStorage. Queue Data Contributor includes
// what the Message Processor and Message Sender roles grant, so those are not assigned separately.
resource storageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Monitoring (optional).

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = if (enableApplicationInsights) {
  name: 'log-${appName}'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = if (enableApplicationInsights) {
  name: 'appi-${appName}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The function app.

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${appName}'
  location: location
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? {
    name: 'FC1'
    tier: 'FlexConsumption'
  } : {
    name: premiumSku
    tier: 'ElasticPremium'
  }
  properties: {
    reserved: true // Linux
    maximumElasticWorkerCount: isFlex ? null : 20
  }
}

// Settings on both plans. Storage is reached with the managed identity (the host and Conduit read the same three
// settings); secrets are Key Vault references (no version: a rotated secret is picked up within 24 h, or at once on
// any configuration change or restart).
var commonSettings = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storage.name
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identity.properties.clientId
  }
  {
    name: 'CONDUIT_ADMIN_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${adminKeySecret.properties.secretUri})'
  }
  {
    // For DefaultAzureCredential in user code: the app's user-assigned identity.
    name: 'AZURE_CLIENT_ID'
    value: identity.properties.clientId
  }
]

// Flex Consumption takes the runtime and the deployment source from functionAppConfig and rejects these settings;
// Elastic Premium needs them.
var premiumSettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'python'
  }
  {
    name: 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING'
    value: '@Microsoft.KeyVault(SecretUri=${storageSecret.properties.secretUri})'
  }
  {
    name: 'WEBSITE_CONTENTSHARE'
    value: contentShareName
  }
  {
    name: 'WEBSITE_SKIP_CONTENTSHARE_VALIDATION'
    value: '1'
  }
  {
    name: 'SCM_DO_BUILD_DURING_DEPLOYMENT' // the remote build installs requirements.txt
    value: 'true'
  }
]

var insightsSettings = enableApplicationInsights ? [
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: insights.properties.ConnectionString
  }
] : []

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      linuxFxVersion: isFlex ? null : 'Python|3.11'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: concat(commonSettings, isFlex ? [] : premiumSettings, insightsSettings)
    }
    functionAppConfig: isFlex ? {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: flexMaximumInstanceCount
        instanceMemoryMB: flexInstanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    } : null
  }
  dependsOn: [
    // The app resolves its Key Vault references, reads its package and reaches storage with its identity as soon
    // as it exists.
    vaultSecretsUser
    storageBlobOwner
    storageQueueContributor
    storageTableContributor
    deploymentContainer
    contentShare
  ]
}

output functionAppName string = app.name
output functionAppUrl string = 'https://${app.properties.defaultHostName}'
output storageAccountName string = storage.name
output keyVaultName string = vault.name
output identityClientId string = identity.properties.clientId
