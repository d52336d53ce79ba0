"""Execution records and their log lines in Table storage, with the fewest requests per execution.

A small execution costs three requests: create the record, one upsert of its log page, one ETag-conditional update
(two without log lines). Log lines are stored in pages of up to 500 (see logs.py); the record <-> entity mapping is in
rows.py. Rows a record refers to (log lines, spilled values) are always written before the record that points at them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NoReturn

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.errors import (
    ConflictError,
    ExecutionAlreadyFinishedError,
    ExecutionNotFoundError,
    StorageError,
)
from shared.models import ExecutionRecord, ExecutionStatus, LogLine
from shared.storage.batches import DEFAULT_CONCURRENCY, plan_batches, upsert_rows
from shared.storage.clients import RequestCounter, open_tables
from shared.storage.keys import (
    DETAILS_TABLE,
    EXECUTIONS_TABLE,
    RANGE_FILTER,
    data_prefix,
    is_valid_key,
    prefix_range,
    validate_execution_id,
)
from shared.storage.logs import is_continuation, log_query, pack_log_pages, unpack_log_pages
from shared.storage.packing import INPUT, OUTPUT, VARIABLES, spill_count
from shared.storage.rows import outcome_entity, record_entity, record_from_entity

Entity = dict[str, Any]

_PAGE_SIZE = 1_000  # the most one query page returns


class ExecutionStore:
    """Reads and writes execution records (ConduitExecutions) and their details rows (ConduitExecutionDetails)."""

    def __init__(self, service: TableServiceClient, *, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self._service = service
        self._records: TableClient = service.get_table_client(EXECUTIONS_TABLE)
        self._details: TableClient = service.get_table_client(DETAILS_TABLE)
        self._concurrency = concurrency

    @classmethod
    def from_connection_string(cls, connection_string: str, *, counter: RequestCounter | None = None) -> ExecutionStore:
        return cls(open_tables(connection_string, counter=counter))

    async def __aenter__(self) -> ExecutionStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the clients; they belong to the event loop that opened them."""
        await self._records.close()
        await self._details.close()
        await self._service.close()

    async def ensure_tables(self) -> None:
        """Create both tables unless they exist; safe to call from every instance at start-up."""
        try:
            for name in (EXECUTIONS_TABLE, DETAILS_TABLE):
                await self._service.create_table_if_not_exists(name)
        except AzureError as error:
            raise StorageError(f"Could not create the execution tables: {error}") from error

    async def create(self, record: ExecutionRecord) -> ExecutionRecord:
        """Write a new record; return it with its ETag. Raises ConflictError if the id is taken in that scope."""
        entity, spilled = record_entity(record)  # validates and sizes everything before any write
        if spilled:
            # Spilled rows are keyed by execution id alone: make sure they do not belong to an existing record.
            if await self._current_etag(record) is not None:
                raise _exists_error(record)
            await self._write_details(spilled)
        try:
            response = await self._records.create_entity(entity, response_preference="return-no-content")
        except ResourceExistsError as error:
            raise _exists_error(record) from error
        except AzureError as error:
            raise StorageError(f"Could not create execution '{record.id}': {error}") from error
        return replace(record, etag=response["etag"])

    async def finish(self, record: ExecutionRecord, logs: Sequence[LogLine]) -> ExecutionRecord:
        """Write the logs, then the outcome with one ETag-conditional update; a terminal state is written once.

        `log_count` becomes `record.log_count + len(logs)`: lines flushed earlier with `append_logs` are counted by
        the caller in `record.log_count`.
        """
        if not record.etag:
            raise ValueError("finish() needs the record returned by create() or get(): it carries the ETag.")
        done = replace(record, log_count=record.log_count + len(logs))
        entity, spilled = outcome_entity(done)  # raises PayloadTooLargeError before anything is written
        details = pack_log_pages(record.id, logs)
        if spilled and await self._current_etag(record) != record.etag:
            await self._raise_conflict(record)  # do not overwrite the spilled values of whoever finished first
        await self._write_details(details + spilled)
        try:
            response = await self._records.update_entity(
                entity, mode=UpdateMode.MERGE, etag=record.etag, match_condition=MatchConditions.IfNotModified
            )
        except ResourceModifiedError:
            await self._raise_conflict(record)
        except ResourceNotFoundError as error:
            raise ExecutionNotFoundError(record.id) from error
        except AzureError as error:
            raise StorageError(f"Could not finish execution '{record.id}': {error}") from error
        return replace(done, etag=response["etag"])

    async def get(self, scope: str, execution_id: str) -> ExecutionRecord | None:
        """One point read, plus one range read per value that was too large for the record; None if not found."""
        if not (is_valid_key(scope) and is_valid_key(execution_id)):
            return None
        try:
            entity = await self._records.get_entity(scope, execution_id)
        except ResourceNotFoundError:
            return None
        except AzureError as error:
            raise StorageError(f"Could not read execution '{execution_id}': {error}") from error
        spilled = [field for field in (INPUT, OUTPUT, VARIABLES) if spill_count(field, entity)]
        found = await asyncio.gather(*(self._range(execution_id, data_prefix(f.spill)) for f in spilled))
        return record_from_entity(entity, dict(zip(spilled, found, strict=True)))

    async def get_logs(self, execution_id: str, after: int | None = None) -> list[LogLine]:
        """The log lines of an execution in sequence order, only those with sequence > `after` when given.

        `after` lets a caller tail a running execution: the server skips pages that end at or before it. Unknown or
        malformed ids have no lines.
        """
        if not is_valid_key(execution_id):
            return []
        query_filter, parameters = log_query(execution_id, after)
        return unpack_log_pages(await self._query(query_filter, parameters), after)

    async def append_logs(self, execution_id: str, logs: Sequence[LogLine]) -> int:
        """Flush log lines of a running execution as pages keyed by their first sequence; rewriting is harmless."""
        validate_execution_id(execution_id)
        await self._write_details(pack_log_pages(execution_id, logs))
        return len(logs)

    async def ping(self, timeout: float = 5.0) -> bool:
        """True when storage answers and the executions table exists (for the health endpoint)."""
        try:
            await asyncio.wait_for(self._records.get_entity("ping", "ping", select=["PartitionKey"]), timeout)
        except ResourceNotFoundError as error:
            return "TableNotFound" not in str(getattr(error, "error_code", ""))
        except (AzureError, TimeoutError):
            return False
        return True

    async def _range(self, partition: str, prefix: str) -> list[dict[str, Any]]:
        """All rows of one partition whose RowKey starts with `prefix`, in RowKey order, across every page."""
        return await self._query(RANGE_FILTER, {"pk": partition, **prefix_range(prefix)})

    async def _query(self, query_filter: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        """Every details row matching a parameterised filter, following continuation tokens."""
        pages = self._details.query_entities(query_filter, parameters=parameters, results_per_page=_PAGE_SIZE)
        try:
            return [entity async for entity in pages]
        except AzureError as error:
            where = f"the '{parameters['lo']}' rows of '{parameters['pk']}'"
            raise StorageError(f"Could not read {where}: {error}") from error

    async def _write_details(self, rows: list[Entity]) -> None:
        """Upsert details rows; continuation rows go first when one atomic request cannot hold them all, so that a
        reader never finds a page head whose later rows are still missing."""
        parts = [row for row in rows if is_continuation(row)]
        if parts and len(plan_batches(rows)) > 1:
            await upsert_rows(self._details, parts, self._concurrency)
            rows = [row for row in rows if not is_continuation(row)]
        await upsert_rows(self._details, rows, self._concurrency)

    async def _current_etag(self, record: ExecutionRecord) -> str | None:
        try:
            entity = await self._records.get_entity(record.scope, record.id, select=["Status"])
        except ResourceNotFoundError:
            return None
        return str(entity.metadata["etag"])

    async def _raise_conflict(self, record: ExecutionRecord) -> NoReturn:
        """The record changed since `record.etag` was read: say whether it already reached a terminal state."""
        try:
            current = await self._records.get_entity(record.scope, record.id, select=["Status"])
        except ResourceNotFoundError as error:
            raise ExecutionNotFoundError(record.id) from error
        status = ExecutionStatus(current["Status"])
        if status.is_terminal:
            raise ExecutionAlreadyFinishedError(record.id, status.value)
        raise ConflictError(f"Execution '{record.id}' changed while it was being finished (now {status.value}).")


def _exists_error(record: ExecutionRecord) -> ConflictError:
    return ConflictError(f"Execution '{record.id}' already exists in scope '{record.scope}'.")
