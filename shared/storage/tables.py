"""One table of Conduit's, as each store holds it: its clients opened once per event loop, closed together, and the
table created at start-up by every instance (safely: "if not exists").

The stores of forms, config, API keys, organizations and the provider cache differ only in their rows; this is
what they share, so a change to how tables are opened (a profile, a counter for the benchmarks) is made once.
"""

from __future__ import annotations

from typing import ClassVar, Self

from azure.core.exceptions import AzureError
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.errors import StorageError
from shared.storage.account import StorageAccount
from shared.storage.clients import REQUEST, RequestCounter, StorageProfile, close_client, open_tables


class TableStore:
    """A store over the one table named `TABLE`, with the storage profile `PROFILE` unless `open` is given one."""

    TABLE: ClassVar[str]
    PROFILE: ClassVar[StorageProfile] = REQUEST

    def __init__(self, service: TableServiceClient, table: str | None = None) -> None:
        self._service = service
        self.table_name = table or self.TABLE
        self._table: TableClient = service.get_table_client(self.table_name)

    @classmethod
    def open(
        cls, account: StorageAccount | str, *, counter: RequestCounter | None = None,
        profile: StorageProfile | None = None,
    ) -> Self:
        return cls(open_tables(account, counter=counter, profile=profile or cls.PROFILE))

    @property
    def table(self) -> TableClient:
        return self._table

    async def close(self) -> None:
        await self._table.close()
        await close_client(self._service)

    async def ensure_table(self) -> None:
        """Create the table unless it exists; safe from every instance at start-up."""
        try:
            await self._service.create_table_if_not_exists(self.table_name)
        except AzureError as error:
            raise StorageError(f"Could not create table {self.table_name}: {error}") from error
