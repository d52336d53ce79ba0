"""The webhook arguments of `@workflow`, checked at registration: a signed endpoint names its secret and scheme.

`webhook_secret` is the name of a config key (the value is read when a request arrives, through
`shared.identity.webhook_secrets`, so a rotated secret needs no redeploy); `webhook_signature` is how the sender
signs; `webhook_delivery_header` names the header carrying the sender's delivery id (redelivery of the same id runs
nothing again). Each mistake is a load error, never a silently unprotected endpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.models import WEBHOOK_SIGNATURE_SCHEMES

_CONFIG_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")  # an HTTP token (RFC 9110)


@dataclass(frozen=True)
class WebhookSettings:
    secret: str | None = None
    signature: str | None = None
    delivery_header: str | None = None


def check_webhook(endpoint_enabled: bool, secret: Any, signature: Any, delivery_header: Any) -> WebhookSettings:
    """The checked webhook arguments; ValueError naming the argument and what to write instead."""
    for name, value in (("webhook_secret", secret), ("webhook_signature", signature),
                        ("webhook_delivery_header", delivery_header)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be text, got {value!r}")
    if (secret is None) != (signature is None):
        given, missing = ("webhook_secret", "webhook_signature") if secret else ("webhook_signature", "webhook_secret")
        raise ValueError(f"{given} needs {missing} too: a signed endpoint names both its secret and its scheme")
    if secret is not None and not _CONFIG_KEY.match(secret):
        # Not echoed: a value that is not a key name may be the secret itself, pasted in by mistake.
        raise ValueError(
            "webhook_secret names a config key such as 'github_secret' (1-128 letters, digits, '_', '.', '-'), whose "
            "value the app setting CONDUIT_CONFIG_<KEY> holds; the value given is not such a name (if it is the "
            "secret itself, move it to that setting)"
        )
    if signature is not None and signature not in WEBHOOK_SIGNATURE_SCHEMES:
        raise ValueError(f"webhook_signature must be one of {', '.join(WEBHOOK_SIGNATURE_SCHEMES)}, got {signature!r}")
    if delivery_header is not None and not _HEADER_NAME.match(delivery_header):
        raise ValueError(f"webhook_delivery_header must be an HTTP header name such as 'X-Request-Id', "
                         f"got {delivery_header!r}")
    if not endpoint_enabled and (secret is not None or delivery_header is not None):
        raise ValueError("webhook_secret, webhook_signature and webhook_delivery_header apply to endpoints only; "
                         "add endpoint_enabled=True")
    return WebhookSettings(secret, signature, delivery_header)
