"""Range reads of a scope's executions: the paged list API and the clean-up timer's active executions.

Ids sort newest first (models.new_execution_id), so both are ascending RowKey reads of the scope's partition with
the filters evaluated by the service. The list's continuation token is ours, not the SDK's: it names the last RowKey
returned, so a page can end in the middle of an SDK page and the next one starts right after it. A page is filled
across as many SDK pages as it takes (Azure may answer a filtered query with short or empty pages plus a token), and a
token is returned only when at least one more matching item exists: limit + 1 items are fetched.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError
from azure.data.tables.aio import TableClient

from shared.errors import FieldError, InputValidationError, StorageError
from shared.models import ExecutionRecord, ExecutionStatus
from shared.storage.keys import EXECUTIONS_END, is_valid_key, key_problem
from shared.storage.rows import LIGHT_COLUMNS, light_record_from_entity
from shared.storage.scalars import utc

MAX_LIMIT = 100
MAX_TEXT_SCAN = 1_000  # rows matched against `q` per page (see list_page)
TOKEN_VERSION = "1"
ACTIVE_STATUSES = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.CANCELLING,
                   ExecutionStatus.WAITING)
# Filters use space-separated tokens only: the SDK substitutes whole words (azure-notes gotcha #5).
_MAX_48 = (1 << 48) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TimeWindow:
    """Created and started between two times (each bound optional; `after` inclusive, `before` exclusive)."""

    created_after: datetime | None = None
    created_before: datetime | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None


@dataclass(frozen=True)
class ListQuery:
    """One request of the list API, validated."""

    scope: str
    workflow: str | None = None
    status: ExecutionStatus | None = None
    form_id: str | None = None
    limit: int = 20
    offset: int = 0
    after: str | None = None  # the RowKey the page starts after, decoded from the continuation token
    caller_id: str | None = None  # only the executions this caller submitted (CallerId column)
    window: TimeWindow = field(default_factory=lambda: TimeWindow())
    trigger_kind: str | None = None  # TriggerKind column (written with the record since issue 15)
    error_text: str | None = None  # `q`: text in the error message, matched here on a bounded scan

    def filter(self) -> tuple[str, dict[str, Any]]:
        """A parameterised filter: clauses are fixed text, every value goes through `parameters`."""
        # The upper bound keeps the rows above the executions (idempotency keys, keys.EXECUTIONS_END) out of pages.
        clauses = ["PartitionKey eq @pk and RowKey lt @end"]
        parameters: dict[str, Any] = {"pk": self.scope, "end": EXECUTIONS_END}
        window = self.window
        newest = created_since_bound(window.created_after) if window.created_after is not None else None
        if window.created_after is not None and newest is None:
            newest = ""  # no id can be that new: nothing matches
        oldest = created_since_bound(window.created_before) if window.created_before is not None else None
        bounds: tuple[tuple[str, str, str | datetime | None], ...] = (
            ("RowKey gt @after", "after", self.after),
            ("WorkflowName eq @wf", "wf", self.workflow),
            ("Status eq @st", "st", self.status.value if self.status else None),
            ("FormId eq @form", "form", self.form_id),
            ("CallerId eq @caller", "caller", self.caller_id),
            ("TriggerKind eq @tk", "tk", self.trigger_kind),
            ("RowKey lt @newest", "newest", newest),  # created at or after created_after
            ("RowKey ge @oldest", "oldest", oldest),  # created before created_before
            ("StartedAt ge @sa", "sa", utc(window.started_after)),
            ("StartedAt lt @sb", "sb", utc(window.started_before)),
        )
        for clause, name, value in bounds:
            if value is not None:
                clauses.append(clause)
                parameters[name] = value
        return " and ".join(clauses), parameters


def list_query(
    scope: str,
    *,
    workflow: str | None,
    status: ExecutionStatus | str | None,
    limit: int,
    offset: int,
    continuation_token: str | None,
    form_id: str | None = None,
    caller_id: str | None = None,
    window: TimeWindow | None = None,
    trigger_kind: str | None = None,
    error_text: str | None = None,
) -> ListQuery:
    """Validate the arguments of `ExecutionStore.list_executions`; a bad token or form id is the caller's input
    error."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an int within 1..{MAX_LIMIT}, got {limit!r}.")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be an int >= 0, got {offset!r}.")
    after = decode_token(continuation_token) if continuation_token is not None else None
    parsed = ExecutionStatus(status) if status is not None else None
    problem = form_id_problem(form_id) if form_id is not None else None
    if problem:
        raise InputValidationError([FieldError("form_id", problem)], "Invalid query parameters")
    return ListQuery(scope, workflow, parsed, form_id, limit, offset, after, caller_id, window or TimeWindow(),
                     trigger_kind, error_text.lower() if error_text else None)


def form_id_problem(form_id: str) -> str | None:
    """Why `form_id` cannot name a form, or None. Forms live in Table storage keyed by their id, so a form id is a
    valid table key; anything else can match no execution and is the caller's mistake, not an empty list."""
    problem = key_problem(form_id)
    return f"is not a form id: it {problem}" if problem else None


def encode_token(row_key: str) -> str:
    """Opaque to clients: a version, then the last RowKey returned, as unpadded urlsafe base64."""
    return base64.urlsafe_b64encode(f"{TOKEN_VERSION}|{row_key}".encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    """The RowKey a token names; InputValidationError when it is not a token `encode_token` made."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        text = ""
    version, _, row_key = text.partition("|")
    if version != TOKEN_VERSION or not is_valid_key(row_key):
        raise InputValidationError(
            [FieldError("continuation_token", "is not a token returned by this API; start again without it")]
        )
    return row_key


async def list_page(table: TableClient, query: ListQuery, page_size: int) -> tuple[list[ExecutionRecord], str | None]:
    """One page of the list API: skip `offset` matches, keep `limit`, look one further to know if more exist.

    `q` (text in the error message) has no server-side filter in Table storage: rows the other filters let through
    are matched here, at most MAX_TEXT_SCAN of them per page. A page that stops at that bound may hold fewer than
    `limit` items, and it still carries a continuation token (at the last row scanned): a page is never silently
    short, the client follows the token as for any page."""
    if not is_valid_key(query.scope):
        return [], None
    wanted = query.offset + query.limit + 1
    query_filter, parameters = query.filter()
    found: list[ExecutionRecord] = []
    scanned, last_scanned = 0, None
    size = page_size if query.error_text else min(page_size, wanted)
    async for entity in _entities(table, query_filter, parameters, size, LIGHT_COLUMNS):
        record = light_record_from_entity(entity, query.scope)
        scanned, last_scanned = scanned + 1, record.id
        if query.error_text is None or query.error_text in (record.error_message or "").lower():
            found.append(record)
            if len(found) == wanted:
                break
        if query.error_text is not None and scanned >= MAX_TEXT_SCAN:
            page = found[query.offset : query.offset + query.limit]
            return page, encode_token(last_scanned)  # the bound was reached: more may match further on
    page = found[query.offset : query.offset + query.limit]
    more = len(found) == wanted
    return page, encode_token(page[-1].id) if more else None


def created_since_bound(since: datetime) -> str | None:
    """RowKeys below this bound are ids made at or after `since`; None when no id can be that new.

    The first 12 hex digits of an id are the inverted creation time in milliseconds, so an id made at `since` or later
    has a prefix <= MAX_48 - ceil(since in ms): it sorts before that prefix + 1, written as an id's first two groups.
    """
    since_ms = max(0, -(-((utc(since) - _EPOCH) // timedelta(microseconds=1)) // 1000))  # type: ignore[operator]
    if since_ms > _MAX_48:
        return None
    if since_ms == 0:
        return "g"  # above every hex digit: all ids
    digits = f"{_MAX_48 - since_ms + 1:012x}"
    return f"{digits[:8]}-{digits[8:]}"


async def active_entities(
    table: TableClient,
    scope: str,
    since: datetime | None,
    page_size: int,
    statuses: Sequence[ExecutionStatus] = ACTIVE_STATUSES,
    select: list[str] | None = None,
) -> list[Any]:
    """Full entities (or the `select`ed columns) of the scope's executions created at or after `since` (None: ever)
    whose status is one of `statuses` (by default Pending, Running or Cancelling)."""
    bound = created_since_bound(since) if since is not None else EXECUTIONS_END
    if bound is None or not is_valid_key(scope) or not statuses:
        return []
    parameters: dict[str, Any] = {"pk": scope, "hi": bound} | {f"s{i}": s.value for i, s in enumerate(statuses)}
    wanted = " or ".join(f"Status eq @s{i}" for i in range(len(statuses)))
    query_filter = f"PartitionKey eq @pk and RowKey lt @hi and ( {wanted} )"
    return [entity async for entity in _entities(table, query_filter, parameters, page_size, select)]


async def _entities(
    table: TableClient, query_filter: str, parameters: dict[str, Any], page_size: int, select: list[str] | None = None
) -> AsyncIterator[Any]:
    """Matching entities in RowKey order, across every SDK page (short and empty ones included)."""
    pages = table.query_entities(query_filter, parameters=parameters, results_per_page=page_size, select=select)
    try:
        async for entity in pages:
            yield entity
    except AzureError as error:
        raise StorageError(f"Could not list the executions of scope '{parameters['pk']}': {error}") from error
