"""Opening the async storage clients with explicit deadlines, and counting the HTTP requests they send.

Every client gets a `StorageProfile`: connect and read timeouts, a bounded retry policy and a total time per operation,
chosen for the path it serves. The SDKs' defaults (a 300 s read timeout, 10 table retries, 15 s and more between
queue retries) would let one slow storage request hold an HTTP request or a lease renewal for minutes.

Every client also sends through `faults.FaultyTransport`, the fault-injection seam (a no-op unless a setting or a test
installs rules). Storage requests are the scarce resource (design.md section 4), so benchmarks and tests report
requests per execution with a `RequestCounter`.

Clients are opened from a `StorageAccount` (account.py): a connection string, or endpoints and a token credential of
the client's own, which `close_client` closes with the client.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from dataclasses import dataclass
from typing import Any

import aiohttp
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import AioHttpTransport
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue._shared.policies_async import LinearRetry  # the async policy; the public one is sync
from azure.storage.queue.aio import QueueClient

from shared.errors import StorageError
from shared.storage.account import DEV_STORAGE, SETTING, StorageAccount, as_account, normalise_connection_string
from shared.storage.faults import FaultyTransport

# The Azure SDK logs every request (with its headers) at INFO; the Functions worker forwards INFO records of every
# logger to the host. Quiet from import, i.e. before the first storage request (a runtime is created on first use).
QUIET_SDK_LOGGERS = ("azure", "azure.core.pipeline.policies.http_logging_policy")


def quiet_sdk_loggers() -> None:
    """Set the Azure SDK's loggers to WARNING, unless a level was set for `azure` before (by the user or the host:
    then theirs holds, for its request logger too). Setting a level after import works as usual."""
    if logging.getLogger(QUIET_SDK_LOGGERS[0]).level != logging.NOTSET:
        return
    for name in QUIET_SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


quiet_sdk_loggers()


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


@dataclass(frozen=True)
class StorageProfile:
    """Deadlines of one path's storage requests: per attempt (connect, read), retries, and the whole operation."""

    name: str
    connect_timeout: float
    read_timeout: float
    retries: int
    backoff: float  # seconds before the first retry; doubles per retry up to `backoff_max`
    backoff_max: float
    total_timeout: float  # the whole operation, retries included

    @classmethod
    def for_lease(cls, lease_seconds: float) -> StorageProfile:
        """Lease renewals and cancel polling: a whole operation, retries included, within a third of the lease."""
        budget = max(0.5, lease_seconds / 3 * 0.8)
        return cls("lease", min(2.0, budget / 2), budget / 2, 1, min(0.2, budget / 8), min(0.2, budget / 8), budget)

    def table_options(self) -> dict[str, Any]:
        """Keyword arguments of a Tables client (azure-core's RetryPolicy)."""
        return {
            "retry_total": self.retries,
            "retry_connect": self.retries,
            "retry_read": self.retries,
            "retry_status": self.retries,
            "retry_backoff_factor": self.backoff / 2,  # azure-core sleeps factor * 2**retries
            "retry_backoff_max": self.backoff_max,
            "timeout": self.total_timeout,
        }

    def queue_options(self) -> dict[str, Any]:
        """Keyword arguments of a Queue client: its own retry policy, a fixed `backoff` between retries."""
        retry = LinearRetry(backoff=self.backoff, retry_total=self.retries, random_jitter_range=0)  # type: ignore[arg-type]
        return {"retry_policy": retry}

    def transport(self, service: str, use_env_settings: bool) -> FaultyTransport:
        inner = _Transport(
            connection_timeout=self.connect_timeout, read_timeout=self.read_timeout, use_env_settings=use_env_settings
        )
        return FaultyTransport(inner, service)


KEEPALIVE_SECONDS = float(os.environ.get("CONDUIT_STORAGE_KEEPALIVE_SECONDS", "4"))


class _Transport(AioHttpTransport):
    """azure-core's aiohttp transport with idle connections dropped after KEEPALIVE_SECONDS.

    aiohttp keeps an idle connection 15 s; Azurite (Node's HTTP server) closes it after 5 s, so a request could pick a
    pooled connection the server had already closed and fail with "Server disconnected" (each retry could pick
    another). The session is still created lazily, on the loop that first uses the client."""

    async def open(self) -> None:
        if getattr(self, "session", None) is None and self._session_owner and not self._has_been_opened:
            self.session = aiohttp.ClientSession(
                trust_env=self._use_env_settings,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
            )
        await super().open()


# HTTP request paths: a request that storage cannot serve in ~15 s answers 503 rather than hanging.
REQUEST = StorageProfile("request", 3.0, 10.0, 2, 0.2, 1.0, 15.0)
# Queue workers, clean-up, final writes: more patience, still bounded.
BACKGROUND = StorageProfile("background", 5.0, 20.0, 4, 0.5, 4.0, 45.0)


def connection_string_from_env() -> str:
    """The `AzureWebJobsStorage` connection string, normalised, for tools that need one; Conduit itself reads
    `StorageAccount.from_env()`, which also takes an identity-based connection."""
    value = os.environ.get(SETTING, "").strip()
    if not value:
        raise StorageError(
            f"The app setting {SETTING} is not set. Set it to a storage connection string, "
            f"or to {DEV_STORAGE} for Azurite."
        )
    return normalise_connection_string(value)


def proxy_configured() -> bool:
    """True when the environment names an HTTP(S) proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, any case)."""
    return any(scheme in urllib.request.getproxies_environment() for scheme in ("http", "https", "all"))


def open_tables(
    account: StorageAccount | str,
    *,
    counter: RequestCounter | None = None,
    use_env_settings: bool | None = None,
    profile: StorageProfile = REQUEST,
) -> TableServiceClient:
    """An async TableServiceClient; close it (or use `async with`) on the event loop that opened it.

    The counter is wired through the SDK's custom-hook policy, which sits after the retry policy: the Tables client
    hands its own fixed policy list to every `get_table_client()`, so `per_retry_policies` would count only the
    requests of the service client itself.

    `use_env_settings` becomes aiohttp's `trust_env`. With it, every request makes two trips to a worker thread (a
    ~/.netrc lookup and a proxy lookup), which cost about as much CPU as the rest of a small request; so it is only
    on when a proxy is configured (None: decide from the environment). The transport still creates its aiohttp
    session lazily, on the loop that first uses it, so the clients keep belonging to that loop.

    `account` is a StorageAccount or a connection string; with an identity, close it with `close_client`.
    """
    account = as_account(account)
    trust_env = proxy_configured() if use_env_settings is None else use_env_settings
    kwargs: dict[str, Any] = {"raw_request_hook": counter.on_request} if counter is not None else {}
    kwargs |= profile.table_options() | {"transport": profile.transport("table", trust_env)}
    if account.connection_string is not None:
        return TableServiceClient.from_connection_string(account.connection_string, **kwargs)
    assert account.table_endpoint is not None
    return TableServiceClient(account.table_endpoint, credential=account.credential(), **kwargs)


def open_queue(
    account: StorageAccount | str, name: str, *, profile: StorageProfile = REQUEST, **options: Any
) -> QueueClient:
    """An async QueueClient with `profile`'s deadlines and the fault seam; `options` are the client's own (message
    encoding). With an identity, close it with `close_client`."""
    account = as_account(account)
    options |= queue_client_options(profile)  # deadlines, and no per-request netrc/proxy lookups (see open_tables)
    if account.connection_string is not None:
        return QueueClient.from_connection_string(account.connection_string, name, **options)
    assert account.queue_endpoint is not None
    return QueueClient(account.queue_endpoint, name, credential=account.credential(), **options)


async def close_client(client: TableServiceClient | QueueClient) -> None:
    """Close a client, and the token credential it was opened with (the SDKs' own `close()` leaves it open)."""
    await client.close()
    credential: Any = getattr(client, "credential", None)
    if hasattr(credential, "get_token") and hasattr(credential, "close"):
        await credential.close()


def queue_client_options(profile: StorageProfile = REQUEST, use_env_settings: bool | None = None) -> dict[str, Any]:
    """Keyword arguments for a Queue client (or service client) with `profile`'s deadlines and the fault seam."""
    trust_env = proxy_configured() if use_env_settings is None else use_env_settings
    return profile.queue_options() | {"transport": profile.transport("queue", trust_env)}
