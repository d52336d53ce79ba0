"""Where a signed endpoint's secret comes from: the one function every webhook check reads it through.

Today the value is the app setting CONDUIT_CONFIG_<KEY> (the key upper-cased, every character other than a letter
or digit made `_`, as `context.get_config` reads it; on Azure the setting can be a Key Vault reference). When stored
config and secrets arrive, this function reads the store instead (an organization's value over the global one), and
no caller changes. The value is read per request, so a rotated secret takes effect without a restart.
"""

from __future__ import annotations

import logging
import os
import re

from shared.errors import WebhookSecretMissingError
from shared.models import GLOBAL_SCOPE

log = logging.getLogger("conduit.webhooks")
CONFIG_PREFIX = "CONDUIT_CONFIG_"


def config_setting(key: str) -> str:
    """The app setting a config key is read from (the naming of `ExecutionContext.get_config`)."""
    return CONFIG_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def webhook_secret(name: str, scope: str = GLOBAL_SCOPE) -> bytes:
    """The secret `name` (the config key an endpoint's `webhook_secret` names) as bytes, for `scope`.

    `scope` is where the endpoint runs; settings have no scopes, so it matters once config is stored per
    organization. Raises WebhookSecretMissingError when nothing is configured (an empty value counts as nothing: an
    empty HMAC key would let anyone sign)."""
    setting = config_setting(name)
    value = os.environ.get(setting, "")
    if not value.strip():
        log.error("signed endpoint secret %r is not configured: set the app setting %s (scope %s)", name, setting,
                  scope)
        raise WebhookSecretMissingError(
            "This endpoint verifies signatures, but its secret is not configured, so it accepts no request; "
            "its administrator will find the setting named in the log."
        )
    return value.encode("utf-8")
