"""Idempotency keys of asynchronous submits: the same key in the same scope within the window names one execution.

A key is a row of the executions table itself, in the scope's partition, so that it and the execution record it names
are written by ONE batch transaction: either both exist or neither does. A repeat can therefore never see a key
without its record (there is no "still being submitted" state), and a slow first submit cannot let a second one run.

Key row: PartitionKey = scope, RowKey = `~idem|` + sha256 of the key in hex (a key may hold characters a RowKey may
not, and is not stored). `~` sorts after every execution id (lowercase hex and `-`), and every range read of
executions (listing.py) ends below `~`, so key rows are never listed. Properties: `ExecutionId`, `KeyWorkflow` (the
workflow the key was used for) and `KeyCreatedAt`; the names differ from the record's own columns on purpose, so no
filter on a record column can match a key row.

A submit with a key is one batch: create the key row and create the record (plus the queue send, done by the
caller). When the key row already exists:

- it names the same workflow and is younger than the window: the first execution answers (`duplicate`);
- it names another workflow and is younger than the window: ConflictError (409) — a key is bound to its workflow;
- it names the same workflow and its execution failed without running (`QueueSendFailed`): that one answers too —
  a concurrent repeat may already have been told its id, so one key names one execution for the whole window;
- it has expired (or its record is gone): it is replaced, ETag-conditionally, in one batch with the new record; of
  concurrent takeovers exactly one wins and the others answer with the winner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, HttpResponseError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from shared.errors import ConflictError, StorageError
from shared.models import ExecutionRecord, utc_now
from shared.storage.keys import IDEMPOTENCY_PREFIX, is_valid_key, validate_scope
from shared.storage.scalars import from_table_time

RecordReader = Callable[[str, str], Awaitable[ExecutionRecord | None]]
Entity = dict[str, Any]

# The error type of an execution whose queue message could not be sent: it never ran (a new key runs it).
SEND_FAILED = "QueueSendFailed"
_ATTEMPTS = 4
_LOST_RACE = (404, 409, 412)  # the key row appeared, vanished or changed since we looked


def key_hash(key: str) -> str:
    """The sha256 of an idempotency key, in hex."""
    if not isinstance(key, str) or not key:
        raise ValueError("An idempotency key must be a non-empty string.")
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_row_key(key: str) -> str:
    """The RowKey of an idempotency key's row in the executions table."""
    return IDEMPOTENCY_PREFIX + key_hash(key)


@dataclass(frozen=True)
class Created:
    """What a submit with a key led to: the new record (with its ETag), or the first one when it is a duplicate."""

    record: ExecutionRecord
    duplicate: bool


class IdempotencyKeys:
    """Creates execution records together with their key rows; `read_record(scope, id)` reads the execution a key
    names."""

    def __init__(self, table: TableClient, read_record: RecordReader) -> None:
        self._table = table
        self._read_record = read_record

    async def stale(self, scope: str, cutoff: datetime, limit: int = 1_000) -> list[Entity]:
        """The scope's key rows made before `cutoff` (keys only, at most `limit`): one range read of the key rows,
        never of records."""
        if not is_valid_key(scope):
            return []
        query_filter = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and KeyCreatedAt lt @cut"
        parameters = {"pk": scope, "lo": IDEMPOTENCY_PREFIX, "hi": IDEMPOTENCY_PREFIX[:-1] + "}", "cut": cutoff}
        rows: list[Entity] = []
        try:
            async for row in self._table.query_entities(query_filter, parameters=parameters,
                                                        select=["PartitionKey", "RowKey"]):
                rows.append(row)
                if len(rows) >= limit:
                    break
            return rows
        except AzureError as error:
            raise StorageError(f"Could not read the idempotency keys of scope '{scope}': {error}") from error

    async def create(self, record: ExecutionRecord, entity: Entity, key: str, *, window: timedelta) -> Created:
        """Create `record` (whose entity is `entity`) holding `key`, or answer with the execution holding it."""
        row = {"PartitionKey": validate_scope(record.scope), "RowKey": key_row_key(key)}
        etag: str | None = None  # None: create the key row; else: replace the expired row read with this ETag
        for _ in range(_ATTEMPTS):
            try:
                created = await self._write(row, record, entity, etag)
            except StorageError as error:
                created = await self._if_applied(row, record, error)
            if created is not None:
                return Created(created, duplicate=False)
            current = await self._read(row)
            if current is None:
                if etag is None:  # the key row did not conflict, so the record's id did
                    raise ConflictError(f"Execution '{record.id}' already exists in scope '{record.scope}'.")
                etag = None
                continue
            if etag is not None and current.metadata["etag"] == etag:
                raise ConflictError(f"Execution '{record.id}' already exists in scope '{record.scope}'.")
            if current.get("ExecutionId") == record.id:  # our own transaction, applied though its answer was lost
                mine = await self._read_record(record.scope, record.id)
                if mine is not None:
                    return Created(mine, duplicate=False)
            holder = await self._holder(record, current, window)
            if holder is not None:
                return Created(holder, duplicate=True)
            etag = current.metadata["etag"]
        raise ConflictError(f"The idempotency key kept changing in scope '{record.scope}'; retry the request.")

    async def _if_applied(self, row: Entity, record: ExecutionRecord, error: StorageError) -> ExecutionRecord:
        """After a failed write that got no answer (lost on the way back): our record if the transaction was applied
        after all; else the error stands."""
        if isinstance(error.__cause__, HttpResponseError):
            raise error  # storage answered: nothing was applied
        current = await self._read(row)
        mine = await self._read_record(record.scope, record.id) if current is not None else None
        if mine is None or current.get("ExecutionId") != record.id:
            raise error
        return mine

    async def _holder(self, record: ExecutionRecord, current: Any, window: timedelta) -> ExecutionRecord | None:
        """The execution to answer with; None when the key may be taken over. ConflictError for another workflow."""
        created = from_table_time(current.get("KeyCreatedAt"))
        if created is None or utc_now() - created >= window:
            return None
        workflow = current.get("KeyWorkflow")
        if workflow != record.workflow_name:
            raise ConflictError(
                f"This idempotency key was already used for workflow '{workflow}' in this scope within the last "
                f"{_hours(window)}; a key names one execution of one workflow. Use another key.",
                details={"workflow": workflow, "execution_id": current.get("ExecutionId")},
            )
        holder = await self._read_record(record.scope, str(current.get("ExecutionId")))
        # One key names one execution for the whole window, even one that failed without running (QueueSendFailed):
        # a concurrent repeat may already have been answered with it while its Failed mark was still pending.
        return holder  # None: its record is gone, so the new submit may have the key

    async def _write(self, row: Entity, record: ExecutionRecord, entity: Entity, etag: str | None) -> Any:
        """One transaction: the key row (created, or replaced if it still has `etag`) and the new record.
        Returns the record with its ETag, or None when the key row was not as expected."""
        key_entity = row | {"ExecutionId": record.id, "KeyWorkflow": record.workflow_name, "KeyCreatedAt": utc_now()}
        key_operation: tuple[Any, ...] = ("create", key_entity)
        if etag is not None:
            options = {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}
            key_operation = ("update", key_entity, options)
        try:
            responses = await self._table.submit_transaction([key_operation, ("create", entity)])
        except HttpResponseError as error:
            if error.status_code in _LOST_RACE:
                return None
            raise StorageError(f"Could not create execution '{record.id}' with its idempotency key: {error}") from error
        except AzureError as error:
            raise StorageError(f"Could not create execution '{record.id}' with its idempotency key: {error}") from error
        return replace(record, etag=responses[1].get("etag"))

    async def _read(self, row: Entity) -> Any:
        try:
            return await self._table.get_entity(row["PartitionKey"], row["RowKey"])
        except HttpResponseError as error:
            if error.status_code == 404:
                return None
            raise StorageError(f"Could not read an idempotency key: {error}") from error
        except AzureError as error:
            raise StorageError(f"Could not read an idempotency key: {error}") from error


def _hours(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} hours" if hours != 1 else "hour"
