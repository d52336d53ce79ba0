"""The registry of scopes that have executions, so that timers can visit every scope without scanning the table.

Table `ConduitScopes`: PartitionKey "scope", RowKey = the scope. `remember` writes a scope once per process (an
in-memory set in front of `create_entity`, a 409 meaning "already known"), so it costs one request per scope per
process rather than one per execution. Scopes are written before their first execution record, so a record is never
in a scope the registry does not know; a scope whose first record then failed to be created is harmless.
"""

from __future__ import annotations

import asyncio

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.data.tables.aio import TableClient

from shared.errors import StorageError
from shared.storage.keys import validate_scope

PARTITION = "scope"


class ScopeRegistry:
    """Known scopes of one store instance, backed by the scopes table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._known: set[str] = set()
        self._lock = asyncio.Lock()  # concurrent first creates in one scope send one request, not one each

    async def remember(self, scope: str) -> None:
        """Record `scope` unless this process already did."""
        if scope in self._known:
            return
        async with self._lock:
            if scope in self._known:
                return
            try:
                entity = {"PartitionKey": PARTITION, "RowKey": validate_scope(scope)}
                await self._table.create_entity(entity, response_preference="return-no-content")
            except ResourceExistsError:
                pass
            except AzureError as error:
                raise StorageError(f"Could not register scope '{scope}': {error}") from error
            self._known.add(scope)

    async def all(self) -> list[str]:
        """Every registered scope, in RowKey order."""
        rows = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION}, select=["RowKey"])
        try:
            return [row["RowKey"] async for row in rows]
        except AzureError as error:
            raise StorageError(f"Could not read the scopes: {error}") from error
