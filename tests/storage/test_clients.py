"""Connection strings and request counting."""

from __future__ import annotations

import pytest

from shared.errors import StorageError
from shared.storage import RequestCounter, connection_string_from_env, open_tables
from shared.storage.clients import normalise_connection_string


@pytest.mark.parametrize(
    "raw", ["UseDevelopmentStorage=true", "UseDevelopmentStorage=true;", " usedevelopmentstorage=TRUE; "]
)
def test_development_storage_shortcut_is_normalised(raw):
    # Given the shortcut with or without the trailing ';' Azurite's README shows
    # When it is normalised / Then azure-data-tables accepts it
    assert normalise_connection_string(raw) == "UseDevelopmentStorage=true"
    open_tables(raw)  # raises ValueError for the un-normalised form


def test_connection_string_comes_from_the_functions_setting(monkeypatch):
    # Given AzureWebJobsStorage set with a trailing ';' / When it is read / Then it is normalised
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true;")
    assert connection_string_from_env() == "UseDevelopmentStorage=true"
    # Given the setting missing / Then the error names it
    monkeypatch.delenv("AzureWebJobsStorage")
    with pytest.raises(StorageError, match="AzureWebJobsStorage"):
        connection_string_from_env()


async def test_request_counter_counts_requests_of_table_clients(storage_connection_string):
    # Given a service client with a counter
    counter = RequestCounter()
    async with open_tables(storage_connection_string, counter=counter) as service:
        # When the service and a table client obtained from it each send one request
        await service.create_table_if_not_exists("CounterProbe")
        async with service.get_table_client("CounterProbe") as table:
            await table.upsert_entity({"PartitionKey": "p", "RowKey": "r"})
    # Then both are counted
    assert counter.reset() == 2
    assert counter.count == 0


def _trust_env(service) -> bool:
    """What the SDK will pass to aiohttp as `trust_env` (the transport builds its session lazily)."""
    return service._client._client._pipeline._transport._inner._use_env_settings  # inside the fault seam


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
def test_environment_proxies_are_honoured_only_when_one_is_configured(monkeypatch, variable):
    # Given no proxy in the environment / When tables are opened / Then aiohttp skips its per-request env lookups
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert _trust_env(open_tables("UseDevelopmentStorage=true")) is False
    # Given a proxy / Then the environment is trusted, and an explicit choice always wins
    monkeypatch.setenv(variable, "http://proxy.example:3128")
    assert _trust_env(open_tables("UseDevelopmentStorage=true")) is True
    assert _trust_env(open_tables("UseDevelopmentStorage=true", use_env_settings=False)) is False
