"""Is this exception storage being unavailable? One answer for every place that must tell outages from bugs.

Storage trouble reaches Conduit in several forms: Conduit's own `StorageError` (the store wraps the SDK's errors),
azure-core's exceptions (`ServiceRequestError` when a request could not be sent, `ServiceResponseError` when no
answer came, both with timeout subclasses; `HttpResponseError` with a 5xx, 408 or 429 status), and the transport's
own errors (aiohttp, `OSError`, timeouts). Each of these is worth a retry later; a 4xx answer from storage (a key
storage refuses, a missing table) is a bug or a misconfiguration, not an outage.
"""

from __future__ import annotations

import os

import aiohttp
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.errors import StorageError

RETRY_AFTER_SETTING = "CONDUIT_RETRY_AFTER_SECONDS"
DEFAULT_RETRY_AFTER_SECONDS = 5
_RETRYABLE_STATUSES = frozenset({408, 429})
_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)  # TimeoutError covers asyncio's on 3.11


def retry_after_seconds() -> int:
    """How long a client should wait before retrying (setting CONDUIT_RETRY_AFTER_SECONDS, default 5, at least 1)."""
    raw = os.environ.get(RETRY_AFTER_SETTING, "").strip()
    return max(1, int(raw)) if raw.isdigit() else DEFAULT_RETRY_AFTER_SECONDS


def is_storage_outage(error: BaseException) -> bool:
    """True when `error` means storage could not be reached or answered with a transient failure."""
    if isinstance(error, StorageError):
        cause = error.__cause__
        # Wrapping an SDK error: judge that. Anything else (a setting missing, a damaged row) is storage trouble.
        return is_storage_outage(cause) if isinstance(cause, AzureError) else True
    if isinstance(error, IncompleteReadError):  # the connection dropped while the answer was being read
        return True
    if isinstance(error, HttpResponseError):
        status = error.status_code
        return status is None or status >= 500 or status in _RETRYABLE_STATUSES
    return isinstance(error, (ServiceRequestError, ServiceResponseError, *_TRANSPORT_ERRORS))
