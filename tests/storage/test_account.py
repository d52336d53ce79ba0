"""How Conduit reaches storage: the settings the Functions host reads (a connection string, or an identity-based
connection), and the clients built from them.

Azurite does not accept Entra ID tokens, so identity-based clients are built for real but send no storage request;
what they would send is read from the client objects (endpoint, credential), and the token request itself is
answered by a stand-in for the App Service identity endpoint, the one the Functions host gives a managed identity.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

from shared.engine.supervision import Supervisor, installed, supervisor_for
from shared.errors import StorageError
from shared.storage import ExecutionStore, StorageAccount
from shared.storage.clients import close_client, open_tables
from shared.storage.faults import FaultyTransport
from shared.storage.keys import EXECUTIONS_TABLE
from shared.storage.queues import ExecutionQueue

IDENTITY = {
    "AzureWebJobsStorage__accountName": "stconduit42",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": "5f1c2b9e-0000-4000-8000-000000000042",
}
TABLES = "https://stconduit42.table.core.windows.net"
QUEUES = "https://stconduit42.queue.core.windows.net"


# (a) Settings, read as the host reads them.


@pytest.mark.parametrize(
    "value", ["UseDevelopmentStorage=true;", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k"]
)
def test_a_connection_string_wins_over_identity_settings(value: str) -> None:
    # Given AzureWebJobsStorage set beside identity settings (the host uses an exact match before a prefix match)
    account = StorageAccount.from_env({"AzureWebJobsStorage": value, **IDENTITY})
    # Then Conduit uses the connection string (the development shortcut normalised) and no identity
    assert account.connection_string == value.rstrip(";")
    assert not account.uses_identity and account.credential() is None
    assert "AccountKey" not in repr(account)  # the key never reaches a log line


def test_account_name_and_managed_identity_give_both_endpoints() -> None:
    # Given the settings infra/main.bicep writes, and AzureWebJobsStorage left empty (as some tools write it)
    account = StorageAccount.from_env({"AzureWebJobsStorage": "", **IDENTITY})
    # Then the Table and Queue endpoints come from the account name, and the user-assigned identity is named
    client_id = IDENTITY["AzureWebJobsStorage__clientId"]
    assert account == StorageAccount(
        table_endpoint=TABLES, queue_endpoint=QUEUES, managed_identity=True, client_id=client_id
    )


def test_names_are_compared_without_case_and_service_uris_win_over_the_account_name() -> None:
    # Given settings in other cases, and a Table endpoint of its own (another cloud, a private endpoint)
    account = StorageAccount.from_env({
        "AZUREWEBJOBSSTORAGE__ACCOUNTNAME": "stconduit42",
        "AzureWebJobsStorage__tableServiceUri": "https://stconduit42.table.core.chinacloudapi.cn/",
        "AzureWebJobsStorage__Credential": "managedIdentity",
    })
    # Then each is read, the explicit URI is used as given (without its trailing '/'), the other is derived
    assert account.table_endpoint == "https://stconduit42.table.core.chinacloudapi.cn"
    assert account.queue_endpoint == QUEUES
    assert account.managed_identity and account.client_id is None  # the system-assigned identity


def test_service_uris_alone_are_enough() -> None:
    # Given only the services' URIs (blobServiceUri is the host's own, Conduit ignores it), no credential setting
    account = StorageAccount.from_env({
        "AzureWebJobsStorage__blobServiceUri": "https://x.blob.core.windows.net",
        "AzureWebJobsStorage__queueServiceUri": "https://x.queue.core.windows.net",
        "AzureWebJobsStorage__tableServiceUri": "https://x.table.core.windows.net",
    })
    # Then Conduit uses them with DefaultAzureCredential
    assert (account.table_endpoint, account.queue_endpoint) == (
        "https://x.table.core.windows.net", "https://x.queue.core.windows.net")
    assert not account.managed_identity


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({}, ["AzureWebJobsStorage to a storage connection string", "AzureWebJobsStorage__accountName"]),
        ({"AzureWebJobsStorage": "  "}, ["UseDevelopmentStorage=true", "AzureWebJobsStorage__credential"]),
        ({"AzureWebJobsStorage__queueServiceUri": "https://x.queue.core.windows.net"},
         ["Table service", "AzureWebJobsStorage__tableServiceUri"]),
        ({"AzureWebJobsStorage__accountName": "St-Conduit"}, ["'St-Conduit' is not a storage account name"]),
        ({"AzureWebJobsStorage__accountName": "x42", "AzureWebJobsStorage__tableServiceUri": "http://x.table"},
         ["must be an https:// URI"]),
        ({"AzureWebJobsStorage__accountName": "x42", "AzureWebJobsStorage__clientSecret": "s"},
         ["AzureWebJobsStorage__clientSecret is not supported", "AZURE_CLIENT_SECRET"]),
    ],
)
def test_missing_or_wrong_settings_say_how_to_configure(environ: dict[str, str], says: list[str]) -> None:
    # Given storage settings that are missing, incomplete or wrong / When they are read / Then the error says why
    with pytest.raises(StorageError) as raised:
        StorageAccount.from_env(environ)
    for text in says:
        assert text in str(raised.value)


# (b) Clients built for an identity-based account: endpoints, credentials, deadlines, the fault seam.


async def test_identity_clients_use_the_endpoints_a_credential_and_the_request_profile() -> None:
    account = StorageAccount.from_env(IDENTITY)
    # When the runtime's clients are opened for it (no request is sent)
    store, queue = ExecutionStore.open(account), ExecutionQueue(account)
    try:
        tables, records, sender = store._service, store._records, queue._client
        # Then they address the account's services, with a managed identity credential of their own
        assert (tables.url, records.url, records.table_name) == (TABLES, TABLES, EXECUTIONS_TABLE)
        assert sender.url == f"{QUEUES}/workflow-executions"
        assert queue._poison.queue_name == "workflow-executions-poison"
        for client in (tables, sender):
            assert isinstance(client.credential, ManagedIdentityCredential)
        assert records.credential is tables.credential  # table clients share their service's credential
        assert sender.credential is not tables.credential  # each client opened has its own (one event loop each)
        # And every client keeps its deadlines and the fault-injection seam
        assert isinstance(tables._client._client._pipeline._transport, FaultyTransport)
        assert isinstance(sender._pipeline._transport, FaultyTransport)
        assert sender._config.retry_policy.total_retries == 2  # REQUEST profile
        assert store.account == account
    finally:
        await store.close()
        await queue.close()


async def test_without_the_managed_identity_setting_default_azure_credential_is_used() -> None:
    # Given the account name only (local development signed in with `az login`, or a service principal's variables)
    account = StorageAccount.from_env({"AzureWebJobsStorage__accountName": "stconduit42"})
    tables = open_tables(account)
    try:
        assert isinstance(tables.credential, DefaultAzureCredential)
    finally:
        await close_client(tables)


@dataclass
class IdentityEndpoint:
    """A stand-in for the identity endpoint App Service gives a function app (IDENTITY_ENDPOINT / IDENTITY_HEADER)."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def identity_endpoint(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[IdentityEndpoint]:
    endpoint = IdentityEndpoint()

    async def token(request: web.Request) -> web.Response:
        endpoint.requests.append({"query": dict(request.query), "header": request.headers.get("X-IDENTITY-HEADER")})
        return web.json_response({"access_token": "t0k3n", "expires_on": "4102444800", "token_type": "Bearer",
                                  "resource": request.query.get("resource", "")})

    app = web.Application()
    app.router.add_get("/msi/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    endpoint.url = f"http://127.0.0.1:{port}/msi/token"
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.url)
    monkeypatch.setenv("IDENTITY_HEADER", "secret-header")
    try:
        yield endpoint
    finally:
        await runner.cleanup()


async def test_the_user_assigned_identity_named_by_client_id_is_asked_for_a_storage_token(identity_endpoint) -> None:
    # Given the template's settings, on a host that offers a managed identity endpoint (as App Service does)
    account = StorageAccount.from_env(IDENTITY)
    store = ExecutionStore.open(account)
    # When the Tables client's credential gets the token its requests would carry, and the store is closed
    token = await store._service.credential.get_token("https://storage.azure.com/.default")
    await store.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del store
        gc.collect()
    # Then it asked the host's identity endpoint for a storage token of the user-assigned identity
    assert token.token == "t0k3n"
    # And closing the store closed the credential's HTTP session too (the SDK's close() leaves it open)
    assert not [w for w in caught if "Unclosed" in str(w.message)]
    [asked] = identity_endpoint.requests
    assert asked["header"] == "secret-header"
    assert asked["query"]["client_id"] == IDENTITY["AzureWebJobsStorage__clientId"]
    assert asked["query"]["resource"] == "https://storage.azure.com"


# Supervision: one supervisor per account, whichever way the account is reached.


async def test_supervisors_are_keyed_by_the_account() -> None:
    # Given supervisors installed for two identity-based accounts (installing starts no thread)
    account = StorageAccount.from_env(IDENTITY)
    other = StorageAccount.from_env({**IDENTITY, "AzureWebJobsStorage__accountName": "stother"})
    stores = [ExecutionStore.open(StorageAccount.from_env(IDENTITY)), ExecutionStore.open(other)]
    try:
        with installed(Supervisor(account)) as one, installed(Supervisor(other)) as two:
            # Then a store on each account, its settings read again, is supervised by that account's supervisor
            assert [supervisor_for(store) for store in stores] == [one, two]
    finally:
        for store in stores:
            await store.close()
