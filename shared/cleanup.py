"""Clean-up: finish the executions nobody else will. Runs from a timer every 5 minutes.

Thresholds come from each execution's own record — its lease and its deadline (start + timeout_seconds + grace) —
not from one fixed age. Every change is ETag-conditional, so a clean-up never overwrites a terminal state or a
record a live worker just touched.

| record                                              | clean-up                                         |
|-----------------------------------------------------|--------------------------------------------------|
| Running, lease expired, deadline passed             | Timeout                                          |
| Cancelling, lease expired (no live worker)          | Cancelled                                        |
| Pending past the grace period, the queue empty      | enqueued again (up to 3 times), then Failed      |
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.errors import ConflictError
from shared.execution_service import requeue
from shared.models import ExecutionRecord, ExecutionStatus, utc_now
from shared.runtime import Runtime, get_runtime
from shared.worker import cancel_abandoned

log = logging.getLogger("conduit.cleanup")

LOOKBACK = timedelta(days=8)  # queue messages live 7 days; nothing older can still be waiting for a worker
PENDING_GRACE = timedelta(seconds=int(os.environ.get("CONDUIT_PENDING_GRACE_SECONDS", "300")))
MAX_REQUEUES = 3
TIMED_OUT = "Execution timed out: its worker stopped before finishing and its deadline has passed"
LOST = "The execution's queue message was lost {n} times; it was not run"


@dataclass
class CleanupReport:
    """What one clean-up pass changed, by execution id."""

    timed_out: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.timed_out or self.cancelled or self.requeued or self.failed)

    def summary(self) -> str:
        return ", ".join(f"{len(v)} {k}" for k, v in vars(self).items() if v)


async def clean_up(now: datetime | None = None) -> CleanupReport:
    """One pass over the active executions of every scope."""
    runtime = await get_runtime()
    now = now or utc_now()
    report = CleanupReport()
    queue_empty: bool | None = None
    for scope in await runtime.store.scopes():
        for record in await runtime.store.active_executions(scope, since=now - LOOKBACK):
            try:
                if record.status is ExecutionStatus.PENDING:
                    if queue_empty is None:
                        queue_empty = await runtime.queue.approximate_count() == 0
                    await _settle_pending(runtime, record, now, queue_empty, report)
                else:
                    await _settle_started(runtime, record, now, report)
            except ConflictError:
                log.info("execution %s changed during clean-up; left for the next pass", record.id)
    return report


async def _settle_started(runtime: Runtime, record: ExecutionRecord, now: datetime, report: CleanupReport) -> None:
    if record.lease_alive(now):
        return
    if record.status is ExecutionStatus.CANCELLING:
        await cancel_abandoned(runtime, record)
        report.cancelled.append(record.id)
    elif record.deadline_at is not None and record.deadline_at <= now:
        await _finish(runtime, record.finished(ExecutionStatus.TIMEOUT, TIMED_OUT, "TimeoutError", now))
        report.timed_out.append(record.id)


async def _settle_pending(
    runtime: Runtime, record: ExecutionRecord, now: datetime, queue_empty: bool, report: CleanupReport
) -> None:
    created = record.created_at or now
    if now - created < PENDING_GRACE or not queue_empty:
        return  # its message may still be waiting in the queue
    if record.requeues >= MAX_REQUEUES:
        message = LOST.format(n=record.requeues + 1)
        await _finish(runtime, record.finished(ExecutionStatus.FAILED, message, "QueueMessageLost", now))
        report.failed.append(record.id)
        return
    await requeue(runtime, record)
    report.requeued.append(record.id)


async def _finish(runtime: Runtime, record: ExecutionRecord) -> None:
    await runtime.store.finish(record, logs=[], steps=[])
