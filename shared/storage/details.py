"""The details table (ConduitExecutionDetails): one partition per execution, one RowKey prefix per kind of row.

Log pages, step rows and spilled values are written here before the record that refers to them, and read back with
one range read per kind (see keys.py).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from azure.core.exceptions import AzureError
from azure.data.tables.aio import TableClient

from shared.errors import StorageError
from shared.storage.batches import plan_batches, upsert_rows
from shared.storage.keys import RANGE_FILTER, prefix_range
from shared.storage.logs import is_continuation

Entity = dict[str, Any]


class DetailsRows:
    """Writes and range reads of details rows, `concurrency` requests at once, `page_size` rows per query page."""

    def __init__(self, table: TableClient, concurrency: int, page_size: int) -> None:
        self.table = table
        self._concurrency = concurrency
        self._page_size = page_size

    async def range(self, partition: str, prefix: str) -> list[Entity]:
        """All rows of one partition whose RowKey starts with `prefix`, in RowKey order, across every page."""
        return await self.query(RANGE_FILTER, {"pk": partition, **prefix_range(prefix)})

    async def query_keys(self, query_filter: str, parameters: dict[str, Any]) -> list[Entity]:
        """The keys (PartitionKey, RowKey) of the matching rows: what a delete needs, without their values."""
        pages = self.table.query_entities(query_filter, parameters=parameters, results_per_page=self._page_size,
                                          select=["PartitionKey", "RowKey"])
        try:
            return [entity async for entity in pages]
        except AzureError as error:
            raise StorageError(f"Could not read the rows of '{parameters.get('pk')}': {error}") from error

    async def query(self, query_filter: str, parameters: dict[str, Any]) -> list[Entity]:
        """Every details row matching a parameterised filter, following continuation tokens."""
        return [entity async for entity in self.stream(query_filter, parameters)]

    async def stream(self, query_filter: str, parameters: dict[str, Any]) -> AsyncGenerator[Entity, None]:
        """The rows matching a parameterised filter in RowKey order; the next page is requested only when the
        reader gets to it, so a reader that stops early sends no more requests."""
        pages = self.table.query_entities(query_filter, parameters=parameters, results_per_page=self._page_size)
        try:
            async for entity in pages:
                yield entity
        except AzureError as error:
            where = f"the '{parameters.get('lo', '')}' rows of '{parameters['pk']}'"
            raise StorageError(f"Could not read {where}: {error}") from error

    async def write(self, rows: list[Entity]) -> None:
        """Upsert details rows; continuation rows go first when one atomic request cannot hold them all, so that a
        reader never finds a page head whose later rows are still missing."""
        parts = [row for row in rows if is_continuation(row)]
        if parts and len(plan_batches(rows)) > 1:
            await upsert_rows(self.table, parts, self._concurrency)
            rows = [row for row in rows if not is_continuation(row)]
        await upsert_rows(self.table, rows, self._concurrency)
