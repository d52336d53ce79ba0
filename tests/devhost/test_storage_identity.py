"""devhost reads a binding's storage connection as the host does: a connection string, or an identity-based connection
(`<name>__accountName` / `__queueServiceUri` / `__tableServiceUri`, `__credential`, `__clientId`).

The identity-based clients are built for real and send nothing (Azurite takes no Entra ID tokens)."""

from __future__ import annotations

import pytest
from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

from devhost.settings import (
    DEVELOPMENT_STORAGE,
    IdentityConnection,
    SettingsError,
    close_service,
    queue_service,
    storage_connection,
    table_service,
)

IDENTITY = {
    "AzureWebJobsStorage": "",
    "AzureWebJobsStorage__accountName": "stconduit42",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": "5f1c2b9e-0000-4000-8000-000000000042",
}


async def test_identity_settings_open_clients_on_the_account_endpoints_with_a_managed_identity() -> None:
    # Given the identity-based settings of infra/main.bicep
    connection = storage_connection(None, IDENTITY)
    assert isinstance(connection, IdentityConnection)
    # When devhost opens its queue (triggers) and table (timer slots) clients
    queues, tables = queue_service(connection), table_service(connection)
    try:
        # Then they address the account's services with the app's managed identity
        assert queues.url == "https://stconduit42.queue.core.windows.net/"
        assert tables.url == "https://stconduit42.table.core.windows.net"
        assert isinstance(queues.credential, ManagedIdentityCredential)
        assert isinstance(tables.credential, ManagedIdentityCredential)
    finally:
        await close_service(queues)
        await close_service(tables)


async def test_a_binding_connection_name_and_service_uris_without_a_credential_setting() -> None:
    # Given `connection="Jobs"` resolved through AzureWebJobsJobs__..., with the Queue service's URI only
    environ = {"AzureWebJobsJobs__queueServiceUri": "https://q.example.net/"}
    connection = storage_connection("Jobs", environ)
    queues = queue_service(connection)
    try:
        # Then the URI is used, with DefaultAzureCredential
        assert queues.url == "https://q.example.net/"
        assert isinstance(queues.credential, DefaultAzureCredential)
    finally:
        await close_service(queues)
    # And a client for a service the settings do not name is refused, naming the settings to add
    with pytest.raises(SettingsError, match="AzureWebJobsJobs__tableServiceUri"):
        table_service(connection)


def test_a_connection_string_wins_and_nothing_set_says_both_ways() -> None:
    assert storage_connection(None, {**IDENTITY, "AzureWebJobsStorage": "UseDevelopmentStorage=true"}) == (
        DEVELOPMENT_STORAGE
    )
    with pytest.raises(SettingsError, match="AzureWebJobsStorage__accountName"):
        storage_connection(None, {})
