"""Schedules in Table storage: one row per scheduled workflow, all in one partition, so a tick reads them all at once.

Table `ConduitSchedules`: PartitionKey "schedule", RowKey = the workflow's name (percent-encoded: a name may hold
characters a RowKey may not). A row remembers what the registry said last (`Expression`, `TimeZone`) and where the
schedule stands: `NextRun` (the first slot not yet handled), `LastRun` (the slot of the last run fired) with its
`LastExecutionId`, `RunCount`, `SkippedCount`, `LastError`, `Paused` and `Retired` (the workflow lost its schedule;
its history stays). Every write is ETag-conditional: of two schedulers writing one row, one wins and the other
learns it lost (`None`), which is harmless because both fired the same slot-keyed executions.

One tick with nothing due is a single range read (a page holds 1,000 rows); rows that change are written back in
batch transactions of up to 100.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode

from shared.errors import StorageError
from shared.storage.batches import MAX_BATCH_OPERATIONS
from shared.storage.scalars import from_table_time
from shared.storage.tables import TableStore

SCHEDULES_TABLE = "ConduitSchedules"
PARTITION = "schedule"
MAX_ERROR_CHARS = 2000
log = logging.getLogger("conduit.schedules")


@dataclass(frozen=True)
class ScheduleRow:
    """Where one workflow's schedule stands."""

    workflow: str
    expression: str
    timezone: str = "UTC"
    next_run: datetime | None = None
    last_run: datetime | None = None  # the slot of the last run fired (a manual trigger: when it was triggered)
    last_execution_id: str | None = None
    run_count: int = 0
    skipped_count: int = 0
    last_error: str | None = None
    paused: bool = False
    retired: bool = False
    updated_at: datetime | None = None
    etag: str | None = None


def row_key(workflow: str) -> str:
    """The RowKey of a workflow's row: its name with every character a RowKey may not hold encoded."""
    return quote(workflow, safe="")


class ScheduleStore(TableStore):
    """Reads and writes the rows of ConduitSchedules."""

    TABLE = SCHEDULES_TABLE

    async def list_rows(self) -> list[ScheduleRow]:
        """Every row, retired ones included: one range read per 1,000 rows."""
        try:
            pages = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION})
            return [_from_entity(entity) async for entity in pages]
        except AzureError as error:
            raise StorageError(f"Could not read the schedules: {error}") from error

    async def get(self, workflow: str) -> ScheduleRow | None:
        try:
            return _from_entity(await self._table.get_entity(PARTITION, row_key(workflow)))
        except ResourceNotFoundError:
            return None
        except AzureError as error:
            raise StorageError(f"Could not read the schedule of '{workflow}': {error}") from error

    async def create(self, row: ScheduleRow) -> ScheduleRow | None:
        """Insert a new row; None when another instance created it first."""
        try:
            response = await self._table.create_entity(_entity(row))
        except ResourceExistsError:
            return None
        except AzureError as error:
            raise StorageError(f"Could not create the schedule of '{row.workflow}': {error}") from error
        return replace(row, etag=response["etag"])

    async def save(self, row: ScheduleRow) -> ScheduleRow | None:
        """Replace the row read as `row.etag` (insert it when it has none); None when it changed or appeared since."""
        if row.etag is None:
            return await self.create(row)
        try:
            response = await self._table.update_entity(
                _entity(row), mode=UpdateMode.REPLACE, etag=row.etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None
        except AzureError as error:
            raise StorageError(f"Could not save the schedule of '{row.workflow}': {error}") from error
        return replace(row, etag=response["etag"])

    async def save_many(self, rows: list[ScheduleRow]) -> list[ScheduleRow | None]:
        """Save rows in batch transactions of up to 100; a batch that loses a race is saved row by row instead, so
        one row another instance changed does not stop the others. Returns each row saved, or None where it lost."""
        saved: list[ScheduleRow | None] = []
        for start in range(0, len(rows), MAX_BATCH_OPERATIONS):
            saved += await self._save_batch(rows[start:start + MAX_BATCH_OPERATIONS])
        return saved

    async def _save_batch(self, rows: list[ScheduleRow]) -> list[ScheduleRow | None]:
        if len(rows) == 1:
            return [await self.save(rows[0])]
        operations: list[Any] = [_operation(row) for row in rows]
        try:
            results = await self._table.submit_transaction(operations)
        except TableTransactionError:
            return [await self.save(row) for row in rows]
        except AzureError as error:
            raise StorageError(f"Could not save {len(rows)} schedules: {error}") from error
        return [replace(row, etag=result["etag"]) for row, result in zip(rows, results, strict=True)]


def _operation(row: ScheduleRow) -> tuple[str, dict[str, Any], dict[str, Any]] | tuple[str, dict[str, Any]]:
    """A batch operation: a new row is created (failing if another instance made it), a read one replaced as read."""
    if row.etag is None:
        return ("create", _entity(row))
    return ("update", _entity(row), {"mode": UpdateMode.REPLACE, "etag": row.etag,
                                     "match_condition": MatchConditions.IfNotModified})


def _entity(row: ScheduleRow) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": PARTITION,
        "RowKey": row_key(row.workflow),
        "Workflow": row.workflow,
        "Expression": row.expression,
        "TimeZone": row.timezone,
        "RunCount": row.run_count,
        "SkippedCount": row.skipped_count,
        "Paused": row.paused,
        "Retired": row.retired,
    }
    optional = {
        "NextRun": row.next_run,
        "LastRun": row.last_run,
        "LastExecutionId": row.last_execution_id,
        "LastError": row.last_error[:MAX_ERROR_CHARS] if row.last_error else None,
        "UpdatedAt": row.updated_at,
    }
    entity.update({name: value for name, value in optional.items() if value is not None})
    return entity


def _from_entity(entity: Any) -> ScheduleRow:
    return ScheduleRow(
        workflow=entity.get("Workflow") or entity["RowKey"],
        expression=entity.get("Expression", ""),
        timezone=entity.get("TimeZone") or "UTC",
        next_run=from_table_time(entity.get("NextRun")),
        last_run=from_table_time(entity.get("LastRun")),
        last_execution_id=entity.get("LastExecutionId"),
        run_count=int(entity.get("RunCount") or 0),
        skipped_count=int(entity.get("SkippedCount") or 0),
        last_error=entity.get("LastError"),
        paused=bool(entity.get("Paused", False)),
        retired=bool(entity.get("Retired", False)),
        updated_at=from_table_time(entity.get("UpdatedAt")),
        etag=entity.metadata.get("etag"),
    )
