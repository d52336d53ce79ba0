// Example parameters for infra/main.bicep. The admin key comes from the environment, so it is never written to a file:
//   export CONDUIT_ADMIN_KEY=$(openssl rand -hex 32)
//   az deployment group create -g <group> -f infra/main.bicep -p infra/main.bicepparam
using './main.bicep'

param namePrefix = 'conduit'
param hostingPlan = 'FlexConsumption' // or 'ElasticPremium' (with premiumSku = 'EP1' | 'EP2' | 'EP3')
param flexMaximumInstanceCount = 100
param flexInstanceMemoryMB = 2048
param enableApplicationInsights = true
param adminKey = readEnvironmentVariable('CONDUIT_ADMIN_KEY')
