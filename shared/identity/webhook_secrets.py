"""Where a signed endpoint's secret comes from: the one function every webhook check reads it through.

In order: the stored config (`PUT /api/config/{key}` with type `secret`, encrypted at rest) of the scope the
endpoint runs in, then GLOBAL's; else the app setting CONDUIT_CONFIG_<KEY> (the key upper-cased, every character
other than a letter or digit made `_`, as `context.get_config` reads it; on Azure the setting can be a Key Vault
reference). The stored entry is looked up by the caller (shared/api/endpoints.py, through the engine's per-scope
config cache: no storage request per webhook call once warm), so this module stays below the engine and needs no
storage of its own. A secret rotated with PUT takes effect on the instance that took the PUT at once, on the others
within CONDUIT_CONFIG_CACHE_SECONDS.
"""

from __future__ import annotations

import logging
import os
import re

from shared.errors import SecretsNotConfiguredError, SecretUnreadableError, WebhookSecretMissingError
from shared.models import GLOBAL_SCOPE
from shared.storage.config import ConfigEntry
from shared.storage.secret_box import SecretBox

log = logging.getLogger("conduit.webhooks")
CONFIG_PREFIX = "CONDUIT_CONFIG_"
_NOT_CONFIGURED = ("This endpoint verifies signatures, but its secret is not configured, so it accepts no request; "
                   "its administrator will find the reason in the log.")


def config_setting(key: str) -> str:
    """The app setting a config key is read from (the naming of `ExecutionContext.get_config`)."""
    return CONFIG_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def webhook_secret(name: str, stored: ConfigEntry | None = None, scope: str = GLOBAL_SCOPE) -> bytes:
    """The secret `name` (the config key an endpoint's `webhook_secret` names) as bytes.

    `stored` is the config entry of that key the endpoint's scope sees (its own, else GLOBAL's), if any: a stored
    secret is decrypted with CONDUIT_SECRETS_KEY and wins over the app setting. A key stored as a plain value is
    refused (it would be readable by every admin listing config, and unmasked in executions): store it again with
    type `secret`. Raises WebhookSecretMissingError when nothing is configured (an empty value counts as nothing:
    an empty HMAC key would let anyone sign)."""
    if stored is not None:
        return _decrypted(name, stored)
    setting = config_setting(name)
    value = os.environ.get(setting, "")
    if not value.strip():
        log.error("signed endpoint secret %r is not configured: store it with PUT /api/config/%s "
                  '{"type": "secret", ...} or set the app setting %s (scope %s)', name, name, setting, scope)
        raise WebhookSecretMissingError(_NOT_CONFIGURED)
    return value.encode("utf-8")


def _decrypted(name: str, stored: ConfigEntry) -> bytes:
    if not stored.is_secret or stored.token is None:
        log.error("signed endpoint secret %r is stored as a %s value in %s, not as a secret: store it again with "
                  '{"type": "secret", ...}', name, stored.type, stored.scope)
        raise WebhookSecretMissingError(_NOT_CONFIGURED)
    try:
        plain = SecretBox.from_env().decrypt(stored.token, f"Webhook secret '{name}' of {stored.scope}")
    except (SecretsNotConfiguredError, SecretUnreadableError) as error:  # the sender is not told our settings
        log.error("signed endpoint secret %r of %s cannot be read: %s", name, stored.scope, error)
        raise WebhookSecretMissingError(_NOT_CONFIGURED) from None
    return plain.encode("utf-8")
