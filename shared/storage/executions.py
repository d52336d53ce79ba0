"""Execution records, their log lines and steps in Table storage, with the fewest requests per execution.

A small execution costs three requests: create the record, one upsert of its log page and step rows, one
ETag-conditional update (two with neither logs nor steps); the first execution of a scope in a process costs one more
(scopes.py). Log lines are stored in pages of up to 500 (see logs.py), steps one row each (steps.py); the record <->
entity mapping is in rows.py. Rows a record refers to (log lines, spilled values) are always written before the record
that points at them. Listing is in listing.py, idempotency keys in idempotency.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, NoReturn

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.errors import (
    ConflictError,
    ExecutionAlreadyFinishedError,
    ExecutionNotFoundError,
    StaleRecordError,
    StorageError,
)
from shared.models import ExecutionRecord, ExecutionStatus, LogLine, iso, utc_now
from shared.storage.account import StorageAccount
from shared.storage.batches import DEFAULT_CONCURRENCY, check_entity, delete_rows
from shared.storage.clients import RequestCounter, close_client, open_tables
from shared.storage.details import DetailsRows
from shared.storage.idempotency import Created, IdempotencyKeys, key_hash
from shared.storage.keys import (
    DETAILS_TABLE,
    EXECUTIONS_END,
    EXECUTIONS_TABLE,
    SCOPES_TABLE,
    data_prefix,
    is_valid_key,
    step_prefix,
    validate_execution_id,
)
from shared.storage.leases import LEASE_COLUMNS, LeaseState, lease_from_entity
from shared.storage.listing import (
    ACTIVE_STATUSES,
    TimeWindow,
    active_entities,
    created_since_bound,
    list_page,
    list_query,
)
from shared.storage.logs import collect_lines, log_query, pack_log_pages
from shared.storage.packing import (
    INPUT,
    OUTPUT,
    TRIGGER_DATA,
    VARIABLES,
    pack_text,
    spill_count,
    to_json_text,
    unpack_text,
)
from shared.storage.rows import SCALAR_COLUMNS, outcome_entity, record_entity, record_from_entity, update_entity
from shared.storage.scalars import as_int, decode_scalars
from shared.storage.scopes import ScopeRegistry
from shared.storage.steps import pack_step_rows, unpack_steps

Entity = dict[str, Any]

_PAGE_SIZE = 1_000  # the most one query page returns
EVENT_PREFIX = "evt|"
_TABLES = (EXECUTIONS_TABLE, DETAILS_TABLE, SCOPES_TABLE)


class ExecutionStore:
    """Reads and writes execution records and idempotency keys (ConduitExecutions), their details rows
    (ConduitExecutionDetails) and the scopes registry (ConduitScopes).

    `page_size` is the most rows asked for per query page (tests lower it to cross many SDK pages).
    `account` names the storage account, so that another thread can open its own clients to it (supervision).
    """

    def __init__(
        self,
        service: TableServiceClient,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        page_size: int = _PAGE_SIZE,
        account: StorageAccount | None = None,
    ) -> None:
        self._service = service
        self.account = account
        self._records: TableClient = service.get_table_client(EXECUTIONS_TABLE)
        self._details = DetailsRows(service.get_table_client(DETAILS_TABLE), concurrency, page_size)
        self._scopes_table: TableClient = service.get_table_client(SCOPES_TABLE)
        self._scopes = ScopeRegistry(self._scopes_table)
        self._idempotency = IdempotencyKeys(self._records, self.get)
        self._page_size = page_size

    @classmethod
    def from_connection_string(cls, connection_string: str, *, counter: RequestCounter | None = None) -> ExecutionStore:
        return cls.open(StorageAccount.from_connection_string(connection_string), counter=counter)

    @classmethod
    def open(cls, account: StorageAccount, *, counter: RequestCounter | None = None) -> ExecutionStore:
        """A store on its own clients (request deadlines) to `account`."""
        return cls(open_tables(account, counter=counter), account=account)

    async def __aenter__(self) -> ExecutionStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the clients; they belong to the event loop that opened them."""
        for table in (self._records, self._details.table, self._scopes_table):
            await table.close()
        await close_client(self._service)  # and its token credential, if any

    async def ensure_tables(self) -> None:
        """Create the tables unless they exist; safe to call from every instance at start-up."""
        try:
            for name in _TABLES:
                await self._service.create_table_if_not_exists(name)
        except AzureError as error:
            raise StorageError(f"Could not create the execution tables: {error}") from error

    async def create(self, record: ExecutionRecord) -> ExecutionRecord:
        """Write a new record; return it with its ETag. Raises ConflictError if the id is taken in that scope."""
        entity = await self._prepare_create(record)
        try:
            response = await self._records.create_entity(entity, response_preference="return-no-content")
        except ResourceExistsError as error:
            existing = await self.get(record.scope, record.id)
            if existing is not None and _same_submit(existing, record):
                return existing  # our own create, applied though its answer was lost (and sent again)
            raise _exists_error(record) from error
        except AzureError as error:
            if not isinstance(error, HttpResponseError):  # no answer came: the create may have been applied
                existing = await self.get(record.scope, record.id)
                if existing is not None and _same_submit(existing, record):
                    return existing
            raise StorageError(f"Could not create execution '{record.id}': {error}") from error
        return replace(record, etag=response["etag"])

    async def create_with_key(
        self, record: ExecutionRecord, key: str, *, window: timedelta = timedelta(hours=24)
    ) -> Created:
        """Create a new record holding idempotency key `key` in its scope, in one transaction with the key's row; or,
        when the key already names an execution of the same workflow within `window`, answer with that one
        (`duplicate`). ConflictError when the key names another workflow's execution. See idempotency.py."""
        key_hash(key)  # ValueError for a bad key, before anything is written
        entity = await self._prepare_create(record)
        return await self._idempotency.create(record, entity, key, window=window)

    async def _prepare_create(self, record: ExecutionRecord) -> Entity:
        """Validate and size the record, register its scope and write its spilled values, which go first."""
        entity, spilled = record_entity(record)  # validates and sizes everything before any write
        await self._scopes.remember(record.scope)
        if spilled:
            # Spilled rows are keyed by execution id alone: make sure they do not belong to an existing record.
            if await self._current_etag(record) is not None:
                raise _exists_error(record)
            await self._details.write(spilled)
        return entity

    async def finish(
        self,
        record: ExecutionRecord,
        logs: Sequence[LogLine],
        steps: Sequence[Mapping[str, Any]] = (),
        *,
        page_breaks: Collection[int] = (),
    ) -> ExecutionRecord:
        """Write the logs and steps, then the outcome with one ETag-conditional update; a terminal state is written
        once. Every scalar field is stored as given: lease_owner=None clears the lease.

        `log_count` becomes `record.log_count + len(logs)`: lines flushed earlier with `append_logs` are counted by
        the caller in `record.log_count`. Logs and steps are keyed by `record.attempt`, apart from other attempts'.
        A step too large for its row is stored cut, with a marker (steps.py).
        """
        if not record.etag:
            raise ValueError("finish() needs the record returned by create() or get(): it carries the ETag.")
        done = replace(record, log_count=record.log_count + len(logs))
        entity, spilled = outcome_entity(done)  # raises PayloadTooLargeError before anything is written
        pages = pack_log_pages(record.id, logs, record.attempt, page_breaks)
        details = pages + pack_step_rows(record.id, steps, record.attempt)
        if spilled and await self._current_etag(record) != record.etag:
            await self._raise_conflict(record)  # do not overwrite the spilled values of whoever finished first
        await self._details.write(details + spilled)
        return replace(done, etag=await self._merge(record, entity))

    async def update(self, record: ExecutionRecord, **changes: Any) -> ExecutionRecord:
        """Change small scalar fields with one ETag-conditional MERGE: claim, lease renewal, cancel, clean-up.

        Returns the record with the changes as stored and its new ETag. Raises StaleRecordError when the record
        changed since it was read, ExecutionAlreadyFinishedError when it is (or is already known to be) terminal.
        """
        if not record.etag:
            raise ValueError("update() needs the record returned by create(), get() or update(): it carries the ETag.")
        entity = update_entity(record, changes)  # ValueError for fields update() does not change
        if ExecutionStatus(record.status).is_terminal:
            raise ExecutionAlreadyFinishedError(record.id, ExecutionStatus(record.status).value)
        etag = await self._merge(record, entity)
        return replace(record, **decode_scalars(entity, changes), etag=etag)

    async def write_steps(self, execution_id: str, steps: Sequence[Mapping[str, Any]], *, attempt: int) -> None:
        """Write step rows of a running execution now (a DAG node's step before its successors start): one request
        for one step. `finish` writes the same rows for the steps it is given; rewriting one is harmless."""
        validate_execution_id(execution_id)
        await self._details.write(pack_step_rows(execution_id, steps, attempt))

    async def get_steps(self, execution_id: str, *, attempt: int = 1) -> list[dict[str, Any]]:
        """The steps of one attempt of an execution in execution order; unknown or malformed ids have none."""
        if not is_valid_key(execution_id):
            return []
        return unpack_steps(await self._details.range(execution_id, step_prefix(attempt)))

    async def write_event(self, execution_id: str, name: str, payload: Any) -> dict[str, Any]:
        """Store an event delivered to a Waiting execution (`evt|{name}|{time}|{nonce}`, its `id`), before its record
        is woken: the woken run finds it with `get_events`. Every delivery is kept; each is taken by one wait (the
        step that took it names its id)."""
        validate_execution_id(execution_id)
        delivered = utc_now()
        row_key = f"{EVENT_PREFIX}{name}|{delivered:%Y%m%d%H%M%S%f}|{uuid.uuid4().hex[:8]}"  # sorts by time
        event = {"step_type": "event", "id": row_key, "event": name, "payload": payload,
                 "delivered_at": iso(delivered)}
        row = {"PartitionKey": execution_id, "RowKey": row_key, **pack_text("Event", to_json_text(event))}
        check_entity(row)
        await self._details.write([row])
        return event

    async def get_events(self, execution_id: str) -> list[dict[str, Any]]:
        """The events delivered to an execution, oldest first for each name."""
        if not is_valid_key(execution_id):
            return []
        rows = await self._details.range(execution_id, EVENT_PREFIX)
        return [json.loads(unpack_text("Event", dict(row)) or "{}") for row in rows]

    async def get(self, scope: str, execution_id: str, *, light: bool = False) -> ExecutionRecord | None:
        """One point read, plus one range read per value that was too large for the record; None if not found.

        `light` reads only the scalar fields (status, attempt, lease, timings, error; see rows.SCALAR_COLUMNS): no
        input, output, variables, trigger or caller, and never a spilled row. For polling and visibility checks.
        """
        if not (is_valid_key(scope) and is_valid_key(execution_id)):
            return None
        try:
            entity = await self._records.get_entity(scope, execution_id, select=SCALAR_COLUMNS if light else None)
        except ResourceNotFoundError:
            return None
        except AzureError as error:
            raise StorageError(f"Could not read execution '{execution_id}': {error}") from error
        return record_from_entity(entity, {}) if light else await self._complete(entity)

    async def get_lease(self, scope: str, execution_id: str) -> LeaseState | None:
        """Status, lease, deadline and ETag only: the cheap point read a supervisor polls with; None if not found."""
        if not (is_valid_key(scope) and is_valid_key(execution_id)):
            return None
        try:
            entity = await self._records.get_entity(scope, execution_id, select=LEASE_COLUMNS)
        except ResourceNotFoundError:
            return None
        except AzureError as error:
            raise StorageError(f"Could not read execution '{execution_id}': {error}") from error
        return lease_from_entity(entity)

    async def list_executions(
        self,
        scope: str,
        *,
        workflow: str | None = None,
        status: ExecutionStatus | str | None = None,
        form_id: str | None = None,
        limit: int = 20,
        offset: int = 0,
        continuation_token: str | None = None,
        caller_id: str | None = None,
        window: TimeWindow | None = None,
        trigger_kind: str | None = None,
        error_text: str | None = None,
    ) -> tuple[list[ExecutionRecord], str | None]:
        """A page of the scope's executions, newest first, as light records (`to_list_item` fields only), and the
        token of the next page, None when no more match. Filters run on the server; a page is short only at the end.
        `form_id` keeps the executions submitted through that form (their trigger is `{"kind": "form", ...}`),
        `caller_id` those one caller submitted (the `CallerId` column).

        `offset` skips that many matching items (after the token's position, when one is given). Raises ValueError
        for a limit outside 1..100 or an unknown status, InputValidationError for a malformed token or form id.
        """
        query = list_query(
            scope,
            workflow=workflow,
            status=status,
            limit=limit,
            offset=offset,
            continuation_token=continuation_token,
            form_id=form_id,
            caller_id=caller_id,
            window=window,
            trigger_kind=trigger_kind,
            error_text=error_text,
        )
        return await list_page(self._records, query, self._page_size)

    async def active_executions(
        self,
        scope: str,
        *,
        since: datetime | None = None,
        statuses: Sequence[ExecutionStatus] = ACTIVE_STATUSES,
    ) -> list[ExecutionRecord]:
        """Full records of the scope's executions (created at or after `since`, when given) whose status is one of
        `statuses` (Pending, Running, Cancelling by default), newest first: one range read, the status filter on
        the server."""
        entities = await active_entities(self._records, scope, since, self._page_size, statuses)
        return list(await asyncio.gather(*(self._complete(entity) for entity in entities)))

    async def active_ids(
        self, scope: str, *, since: datetime, statuses: Sequence[ExecutionStatus] = ACTIVE_STATUSES
    ) -> set[str]:
        """The ids of the scope's executions created at or after `since` whose status is one of `statuses`: one
        range read of the RowKey column (the scheduler asks this instead of reading each previous run)."""
        entities = await active_entities(self._records, scope, since, self._page_size, statuses, select=["RowKey"])
        return {entity["RowKey"] for entity in entities}

    async def outcomes(self, scope: str, workflow: str, *, since: datetime, caller_id: str | None = None,
                       limit: int) -> list[tuple[str, int | None]]:
        """(status, duration_ms) of a workflow's executions created at or after `since`, newest first, at most
        `limit`: one range read of the scope's partition (the workflow and caller filters on the server), two
        columns per row."""
        bound = created_since_bound(since)
        if bound is None or not is_valid_key(scope):
            return []
        parameters: dict[str, Any] = {"pk": scope, "hi": min(bound, EXECUTIONS_END), "wf": workflow}
        query_filter = "PartitionKey eq @pk and RowKey lt @hi and WorkflowName eq @wf"
        if caller_id is not None:
            query_filter += " and CallerId eq @caller"
            parameters["caller"] = caller_id
        found: list[tuple[str, int | None]] = []
        pages = self._records.query_entities(query_filter, parameters=parameters,
                                             results_per_page=min(self._page_size, limit),
                                             select=["Status", "DurationMs"])
        try:
            async for entity in pages:
                found.append((str(entity.get("Status")), as_int(entity.get("DurationMs"))))
                if len(found) >= limit:
                    break
        except AzureError as error:
            raise StorageError(f"Could not read the executions of '{workflow}': {error}") from error
        return found

    async def delete_execution(self, record: ExecutionRecord) -> None:
        """Delete a finished execution: its details rows (log pages, steps, spilled values, events) first, then the
        record, ETag-conditionally (ConflictError when it changed since it was read). Raises ConflictError for an
        execution that has not finished."""
        if not ExecutionStatus(record.status).is_terminal:
            raise ConflictError(f"Execution '{record.id}' is {record.status.value}; only a finished execution can be "
                                "deleted (cancel it first).", details={"status": record.status.value})
        rows = await self._details.query_keys("PartitionKey eq @pk", {"pk": validate_execution_id(record.id)})
        await delete_rows(self._details.table, [(row["PartitionKey"], row["RowKey"]) for row in rows])
        try:
            await self._records.delete_entity(record.scope, record.id, etag=record.etag,
                                              match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError as error:
            raise ConflictError(f"Execution '{record.id}' changed while it was being deleted.") from error
        except AzureError as error:
            raise StorageError(f"Could not delete execution '{record.id}': {error}") from error

    async def finished_before(self, scope: str, cutoff: datetime, limit: int) -> list[ExecutionRecord]:
        """Light records of the scope's finished executions created before `cutoff`, oldest region only: one range
        read from the ids' creation-time bound down, the status filter on the server (no live row is read)."""
        bound = created_since_bound(cutoff)
        if bound is None or not is_valid_key(scope):
            return []
        terminal = sorted(status.value for status in ExecutionStatus if status.is_terminal)
        parameters: dict[str, Any] = {"pk": scope, "lo": bound, "end": EXECUTIONS_END}
        parameters |= {f"s{i}": status for i, status in enumerate(terminal)}
        wanted = " or ".join(f"Status eq @s{i}" for i in range(len(terminal)))
        parameters["cut"] = cutoff
        query_filter = (f"PartitionKey eq @pk and RowKey ge @lo and RowKey lt @end and CompletedAt lt @cut "
                        f"and ( {wanted} )")  # finished before the cutoff too: a long wait is kept from its end
        found: list[ExecutionRecord] = []
        pages = self._records.query_entities(query_filter, parameters=parameters,
                                             results_per_page=min(self._page_size, limit), select=SCALAR_COLUMNS)
        try:
            async for entity in pages:
                found.append(record_from_entity(entity, {}))
                if len(found) >= limit:
                    break
        except AzureError as error:
            raise StorageError(f"Could not read the finished executions of scope '{scope}': {error}") from error
        return found

    async def resumed_sources(self, scope: str) -> set[str]:
        """The executions the scope's live `from_failed` reruns resume (their recorded nodes are still needed)."""
        entities = await active_entities(self._records, scope, None, self._page_size, select=["ResumeFrom"])
        return {str(e["ResumeFrom"]) for e in entities if e.get("ResumeFrom")}

    async def delete_stale_keys(self, scope: str, cutoff: datetime) -> int:
        """Delete the scope's idempotency-key rows made before `cutoff` (past their window, they name nothing)."""
        rows = await self._idempotency.stale(scope, cutoff)
        await delete_rows(self._records, [(row["PartitionKey"], row["RowKey"]) for row in rows])
        return len(rows)

    async def scopes(self) -> list[str]:
        """Every scope that has had an execution (see scopes.py)."""
        return await self._scopes.all()

    async def get_logs(
        self,
        execution_id: str,
        after: int | None = None,
        *,
        attempt: int = 1,
        keep: Callable[[LogLine], bool] | None = None,
        limit: int | None = None,
    ) -> list[LogLine]:
        """The log lines of one attempt of an execution in sequence order, only those with sequence > `after` when
        given, that `keep` accepts, the first `limit` of them.

        `after` lets a caller tail a running execution: the server skips pages that end at or before it. With a
        `limit`, pages are read only until the answer is known. Unknown or malformed ids have no lines.
        """
        if not is_valid_key(execution_id):
            return []
        query_filter, parameters = log_query(execution_id, after, attempt)
        async with contextlib.aclosing(self._details.stream(query_filter, parameters)) as rows:
            return await collect_lines(rows, after, keep, limit)

    async def append_logs(self, execution_id: str, logs: Sequence[LogLine], *, attempt: int) -> int:
        """Flush log lines of a running execution's `attempt` as pages keyed by their first sequence; rewriting is
        harmless. `attempt` is required: a takeover's lines must never land among the previous attempt's."""
        validate_execution_id(execution_id)
        await self._details.write(pack_log_pages(execution_id, logs, attempt))
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

    async def _current_etag(self, record: ExecutionRecord) -> str | None:
        try:
            entity = await self._records.get_entity(record.scope, record.id, select=["Status"])
        except ResourceNotFoundError:
            return None
        return str(entity.metadata["etag"])

    async def _complete(self, entity: Any) -> ExecutionRecord:
        """The record of an entity, with the values that were too large for it read from their details rows."""
        spilled = [field for field in (INPUT, OUTPUT, VARIABLES, TRIGGER_DATA) if spill_count(field, entity)]
        found = await asyncio.gather(*(self._details.range(entity["RowKey"], data_prefix(f.spill)) for f in spilled))
        return record_from_entity(entity, dict(zip(spilled, found, strict=True)))

    async def _merge(self, record: ExecutionRecord, entity: Entity) -> str:
        """MERGE `entity` if the record still has `record.etag`; return the new ETag."""
        try:
            response = await self._records.update_entity(
                entity, mode=UpdateMode.MERGE, etag=record.etag, match_condition=MatchConditions.IfNotModified
            )
        except ResourceModifiedError:
            await self._raise_conflict(record)
        except ResourceNotFoundError as error:
            raise ExecutionNotFoundError(record.id) from error
        except AzureError as error:
            raise StorageError(f"Could not update execution '{record.id}': {error}") from error
        return str(response["etag"])

    async def _raise_conflict(self, record: ExecutionRecord) -> NoReturn:
        """The record changed since `record.etag` was read: say whether it already reached a terminal state."""
        try:
            current = await self._records.get_entity(record.scope, record.id, select=["Status"])
        except ResourceNotFoundError as error:
            raise ExecutionNotFoundError(record.id) from error
        except AzureError as error:
            raise StorageError(f"Could not read execution '{record.id}': {error}") from error
        status = ExecutionStatus(current["Status"])
        if status.is_terminal:
            raise ExecutionAlreadyFinishedError(record.id, status.value)
        raise StaleRecordError(f"Execution '{record.id}' changed since it was read (now {status.value}).")


def _same_submit(stored: ExecutionRecord, record: ExecutionRecord) -> bool:
    """Whether a stored record is the one `record` would create (ids are random per submit, so a stored record with
    the same id and content was written by this very submit)."""
    fields = ("workflow_name", "status", "trigger", "caller", "input_data", "started_at")
    return all(getattr(stored, name) == getattr(record, name) for name in fields)


def _exists_error(record: ExecutionRecord) -> ConflictError:
    return ConflictError(f"Execution '{record.id}' already exists in scope '{record.scope}'.")
