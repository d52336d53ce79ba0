"""infra/main.bicep sets what Conduit needs in production, and keeps secrets in Key Vault.

No Bicep compiler runs in CI (it is not on the package registries this project uses), so this reads the template's
app settings as text: each `name: '...'` with the `value:` that follows it.
"""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "main.bicep"
_SETTING = re.compile(r"name: '([A-Za-z_][\w.]*)'\s*(?://[^\n]*)?\n\s*value: ([^\n]+)")
SECRETS = ("AzureWebJobsStorage", "CONDUIT_ADMIN_KEY", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING")
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
    assert {"AzureWebJobsStorage", "CONDUIT_ADMIN_KEY"} <= common.keys()
    for name, value in {**common, **premium}.items():
        if name in SECRETS:
            assert "Microsoft.KeyVault(SecretUri=" in value or value == "keyVaultReference", name
    assert "var keyVaultReference = '@Microsoft.KeyVault(SecretUri=" in text
    # And the settings Flex Consumption rejects are only in the Elastic Premium list
    assert not set(FLEX_REJECTS) & common.keys()
    assert {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} <= premium.keys()
