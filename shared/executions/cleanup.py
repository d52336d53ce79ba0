"""Clean-up: finish the executions nobody else will. Runs from a timer every 5 minutes.

Thresholds come from each execution's own record — its lease, its deadline (start + timeout_seconds + grace) and its
age — not from one fixed look-back: every Pending, Running or Cancelling execution of every scope is visited, however
old (one range read per scope, the status filter on the server). Every change is ETag-conditional, so a clean-up never
overwrites a terminal state or a record a live worker just touched.

| record                                              | clean-up                                              |
|-----------------------------------------------------|-------------------------------------------------------|
| Running or Cancelling, lease expired                | as the recovery pass does (recovery.py)               |
| Pending older than the grace period                 | its message sent again, at most once per grace period |
|                                                     | and 3 times in all; then Failed (QueueMessageLost)    |
| Waiting, its wait ended more than the grace period  | its wake-up sent again (at most once per grace        |
| ago (the wake-up was lost)                          | period); a wait with no end is left alone             |

A Pending execution is requeued by age alone: whether its message still waits in the queue cannot be told (Azure
and Azurite count messages in flight too), and a duplicate message is harmless because the record decides and the
claim is ETag-conditional. One failing scope or record is logged and counted; the pass goes on with the others.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from shared.engine.durable import until_of
from shared.executions.recovery import STARTED, TIMED_OUT, PassReport, read_scope, settle_each, settle_started
from shared.executions.service import requeue
from shared.executions.services import Services
from shared.models import ExecutionRecord, ExecutionStatus, utc_now

log = logging.getLogger("conduit.cleanup")

PENDING_GRACE = timedelta(seconds=int(os.environ.get("CONDUIT_PENDING_GRACE_SECONDS", "300")))
MAX_REQUEUES = 3
LOST = "The execution's queue message was lost {n} times; it was not run"
CleanupReport = PassReport
__all__ = ["LOST", "MAX_REQUEUES", "PENDING_GRACE", "TIMED_OUT", "CleanupReport", "clean_up"]


async def clean_up(services: Services, now: datetime | None = None) -> PassReport:
    """One pass over the active executions of every scope."""
    now = now or utc_now()
    report = PassReport()
    for scope in await services.store.scopes():
        records = await read_scope(services, scope, (ExecutionStatus.PENDING, ExecutionStatus.WAITING, *STARTED),
                                   report)
        await settle_each(records, lambda record: _settle(services, record, now, report), report)
    return report


async def _settle(services: Services, record: ExecutionRecord, now: datetime, report: PassReport) -> None:
    if record.status is ExecutionStatus.PENDING:
        await _settle_pending(services, record, now, report)
    elif record.status is ExecutionStatus.WAITING:
        await _settle_waiting(services, record, now, report)
    else:
        await settle_started(services, record, now, report)


async def _settle_waiting(services: Services, record: ExecutionRecord, now: datetime, report: PassReport) -> None:
    """A Waiting execution is left alone until its own deadline (the end of its wait) and the grace after it."""
    until = until_of(record.waiting)
    if until is None or now - until < PENDING_GRACE:
        return
    if record.requeued_at is not None and now - record.requeued_at < PENDING_GRACE:
        return
    log.warning("execution %s should have woken at %s; sending its wake-up again", record.id, until)
    await requeue(services, record, lost=False)
    report.requeued.append(record.id)


async def _settle_pending(services: Services, record: ExecutionRecord, now: datetime, report: PassReport) -> None:
    last_sent = record.requeued_at or record.created_at or now
    if now - last_sent < PENDING_GRACE:
        return  # its message may still be waiting in the queue
    if record.requeues >= MAX_REQUEUES:
        message = LOST.format(n=record.requeues + 1)
        await services.store.finish(record.finished(ExecutionStatus.FAILED, message, "QueueMessageLost", now), [], [])
        report.failed.append(record.id)
        return
    log.warning("execution %s is still Pending after %s; sending its message again", record.id, now - last_sent)
    await requeue(services, record)
    report.requeued.append(record.id)
