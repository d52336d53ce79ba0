"""Many executions in one call: read their summaries, cancel them by id, or select the active ones to cancel.

The same scope rules as one execution (shared.executions.queries, shared.identity.policy) hold for each item: one
the caller may not see or cancel is answered exactly as a missing one. Storage calls run concurrently, at most
`CONCURRENCY` at a time, so a batch of 100 neither crawls nor floods the account.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.errors import ConflictError, ExecutionNotFoundError
from shared.executions.queries import cancel_execution, get_execution
from shared.executions.services import Services
from shared.identity import policy
from shared.models import Caller, ExecutionRecord, ExecutionStatus
from shared.storage.listing import MAX_LIMIT

CONCURRENCY = 16
CANCELLABLE = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING)
SUMMARY_FIELDS = ("id", "status", "workflow_id", "created_at", "started_at", "completed_at", "duration_ms",
                  "error_message")
T = TypeVar("T")


async def bounded(ids: Sequence[str], work: Callable[[str], Awaitable[T]]) -> list[T]:
    """`work` for each distinct id, at most CONCURRENCY at once; the results in the order of `ids` (a repeated id
    is worked on once and answered each time it is asked)."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(execution_id: str) -> T:
        async with gate:
            return await work(execution_id)

    distinct = list(dict.fromkeys(ids))
    done = dict(zip(distinct, await asyncio.gather(*(one(i) for i in distinct)), strict=True))
    return [done[i] for i in ids]


async def summaries(services: Services, caller: Caller, ids: Sequence[str]) -> list[dict[str, Any]]:
    """`POST .../executions/batch`: each id's summary from a light read, or `{"id", "found": false}` when it is
    missing, malformed or not the caller's to see."""

    async def read(execution_id: str) -> dict[str, Any]:
        try:
            record = await get_execution(services, caller, execution_id, light=True)
        except ExecutionNotFoundError:
            return {"id": execution_id, "found": False}
        return summary(record)

    return await bounded(ids, read)


def summary(record: ExecutionRecord) -> dict[str, Any]:
    body = record.to_list_item()
    return {name: body[name] for name in SUMMARY_FIELDS}


async def cancel_many(services: Services, caller: Caller, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Cancel each id the caller may cancel: Pending and Waiting end Cancelled at once, Running goes Cancelling.
    Each item has an `outcome`: cancelled, cancelling, already_finished, not_found (missing, malformed, or not the
    caller's to cancel) or conflict (it kept changing while being cancelled; asking again settles it)."""

    async def cancel(execution_id: str) -> dict[str, Any]:
        try:
            record = await cancel_execution(services, caller, execution_id)
        except ExecutionNotFoundError:
            return {"id": execution_id, "status": None, "outcome": "not_found"}
        except ConflictError as error:
            status = (error.details or {}).get("status")
            return {"id": execution_id, "status": status, "outcome": "already_finished" if status else "conflict"}
        outcome = "cancelled" if record.status.is_terminal else "cancelling"
        return {"id": execution_id, "status": record.status.value, "outcome": outcome}

    return await bounded(ids, cancel)


def outcome_counts(items: list[dict[str, Any]]) -> dict[str, int]:
    """How many items had each outcome (every outcome named, 0 included)."""
    counted = Counter(item["outcome"] for item in items)
    return {name: counted[name] for name in ("cancelled", "cancelling", "already_finished", "not_found",
                                             "conflict")}


@dataclass(frozen=True)
class ActiveFilter:
    """Which active executions a bulk cancel selects: any of Pending, Running, Waiting unless `status` names one."""

    workflow: str | None = None
    status: ExecutionStatus | None = None
    form_id: str | None = None


async def select_active(services: Services, caller: Caller, wanted: ActiveFilter, limit: int) -> list[str]:
    """Ids of the caller's visible executions that match, newest first, at most `limit`: one listing per status
    (the store filters one status at a time), each read page by page only until it has `limit`."""
    statuses = (wanted.status,) if wanted.status is not None else CANCELLABLE
    found: list[str] = []
    for status in statuses:
        found += await _listed(services, caller, wanted, status, limit)
    return sorted(found)[:limit]  # ids sort newest first (models.new_execution_id)


async def _listed(services: Services, caller: Caller, wanted: ActiveFilter, status: ExecutionStatus,
                  limit: int) -> list[str]:
    ids: list[str] = []
    token: str | None = None
    while len(ids) < limit:
        page, token = await services.store.list_executions(
            caller.scope, workflow=wanted.workflow, status=status, form_id=wanted.form_id,
            limit=min(MAX_LIMIT, limit - len(ids)), continuation_token=token,
            caller_id=policy.execution_owner_filter(caller),
        )
        ids += [record.id for record in page]
        if token is None:
            break
    return ids
