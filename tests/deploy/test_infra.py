"""infra/main.bicep sets what Conduit needs in production: storage through the app's managed identity, secrets in
Key Vault.

No Bicep compiler runs in CI (it is not on the package registries this project uses), so this reads the template's
app settings as text: each `name: '...'` with the `value:` that follows it.
"""

from __future__ import annotations

import re
from pathlib import Path

from shared.storage.account import StorageAccount

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "main.bicep"
_SETTING = re.compile(r"name: '([A-Za-z_][\w.]*)'\s*(?://[^\n]*)?\n\s*value: ([^\n]+)")
SECRETS = ("CONDUIT_ADMIN_KEY", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING")
FLEX_REJECTS = ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE")


def settings_in(block: str) -> dict[str, str]:
    return dict(_SETTING.findall(block))


def variable_block(text: str, name: str) -> str:
    start = text.index(f"var {name} = [")
    return text[start : text.index("\n]", start)]


def test_template_sets_the_settings_conduit_reads_with_secrets_from_key_vault() -> None:
    # Given the template's app settings
    text = TEMPLATE.read_text(encoding="utf-8")
    common = settings_in(variable_block(text, "commonSettings"))
    premium = settings_in(variable_block(text, "premiumSettings"))
    # Then the storage account and the admin key are set on every plan, and every secret is a Key Vault reference
    assert {"AzureWebJobsStorage__accountName", "CONDUIT_ADMIN_KEY"} <= common.keys()
    assert set(SECRETS) <= {**common, **premium}.keys()
    for name in SECRETS:
        assert {**common, **premium}[name].startswith("'@Microsoft.KeyVault(SecretUri=${"), name
    # And the settings Flex Consumption rejects are only in the Elastic Premium list
    assert not set(FLEX_REJECTS) & common.keys()
    assert {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} <= premium.keys()


def test_storage_is_reached_with_the_managed_identity_on_both_plans() -> None:
    # Given the template's settings for every plan
    text = TEMPLATE.read_text(encoding="utf-8")
    common = settings_in(variable_block(text, "commonSettings"))
    premium = settings_in(variable_block(text, "premiumSettings"))
    # Then AzureWebJobsStorage is the identity-based connection (no connection string), with the user-assigned identity
    assert "AzureWebJobsStorage" not in {**common, **premium}
    assert common["AzureWebJobsStorage__accountName"] == "storage.name"
    assert common["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert common["AzureWebJobsStorage__clientId"] == "identity.properties.clientId"
    # And that identity holds the data roles the host (blobs, queues) and Conduit (tables, queues) use
    for role in ("storageBlobDataOwner", "storageQueueDataContributor", "storageTableDataContributor"):
        assert f"roleDefinitions', roles.{role})\n    principalId: identity.properties.principalId" in text, role
    # And the account takes no shared key on Flex Consumption; its key is kept (in Key Vault) only for Premium's share
    assert "allowSharedKeyAccess: !isFlex" in text
    assert "resource storageSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!isFlex) {" in text
    assert "storageSecret.properties.secretUri" in premium["WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"]


def test_conduit_reads_the_template_storage_settings_as_an_identity_based_account() -> None:
    # Given the storage settings as the deployed app sees them (the template's expressions given sample values)
    common = settings_in(variable_block(TEMPLATE.read_text(encoding="utf-8"), "commonSettings"))
    client_id = "0c6a1d4e-0000-4000-8000-0000000000ab"
    samples = {"storage.name": "stconduitabc123", "identity.properties.clientId": client_id}
    environ = {name: samples.get(value, value.strip("'")) for name, value in common.items()
               if name.startswith("AzureWebJobsStorage")}
    # When Conduit reads them / Then it reaches the account's tables and queues with that user-assigned identity
    assert StorageAccount.from_env(environ) == StorageAccount(
        table_endpoint="https://stconduitabc123.table.core.windows.net",
        queue_endpoint="https://stconduitabc123.queue.core.windows.net",
        managed_identity=True,
        client_id=client_id,
    )
