"""Opening the async Table storage client, and counting the HTTP requests it sends.

Storage requests are the scarce resource (design.md section 4), so benchmarks and tests report requests per
execution with a `RequestCounter`.
"""

from __future__ import annotations

import os
import urllib.request

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.data.tables.aio import TableServiceClient

from shared.errors import StorageError

SETTING = "AzureWebJobsStorage"
_DEV_STORAGE = "UseDevelopmentStorage=true"


class RequestCounter(SansIOHTTPPolicy):
    """Counts every HTTP request sent, retries included (it runs after the retry policy)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_request(self, request: PipelineRequest) -> None:
        self.count += 1

    def reset(self) -> int:
        """Return the count so far and start again from zero."""
        count, self.count = self.count, 0
        return count


def normalise_connection_string(connection_string: str) -> str:
    """azure-data-tables 12.7.0 only accepts the development shortcut without a trailing `;` (gotcha #4)."""
    text = connection_string.strip()
    if text.rstrip(";").strip().lower() == _DEV_STORAGE.lower():
        return _DEV_STORAGE
    return text


def connection_string_from_env() -> str:
    """The storage account of the Functions app: the `AzureWebJobsStorage` setting, normalised."""
    value = os.environ.get(SETTING, "").strip()
    if not value:
        raise StorageError(
            f"The app setting {SETTING} is not set. Set it to a storage connection string, "
            f"or to {_DEV_STORAGE} for Azurite."
        )
    return normalise_connection_string(value)


def proxy_configured() -> bool:
    """True when the environment names an HTTP(S) proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, any case)."""
    return any(scheme in urllib.request.getproxies_environment() for scheme in ("http", "https", "all"))


def open_tables(
    connection_string: str, *, counter: RequestCounter | None = None, use_env_settings: bool | None = None
) -> TableServiceClient:
    """An async TableServiceClient; close it (or use `async with`) on the event loop that opened it.

    The counter is wired through the SDK's custom-hook policy, which sits after the retry policy: the Tables client
    hands its own fixed policy list to every `get_table_client()`, so `per_retry_policies` would count only the
    requests of the service client itself.

    `use_env_settings` becomes aiohttp's `trust_env`. With it, every request makes two trips to a worker thread (a
    ~/.netrc lookup and a proxy lookup), which cost about as much CPU as the rest of a small request; so it is only
    on when a proxy is configured (None: decide from the environment). The transport still creates its aiohttp
    session lazily, on the loop that first uses it, so the clients keep belonging to that loop.
    """
    kwargs: dict[str, object] = {"raw_request_hook": counter.on_request} if counter is not None else {}
    kwargs["use_env_settings"] = proxy_configured() if use_env_settings is None else use_env_settings
    return TableServiceClient.from_connection_string(normalise_connection_string(connection_string), **kwargs)
