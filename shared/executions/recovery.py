"""Recovery: an execution whose host died is taken over (or finished) within about a lease length.

A host that dies (SIGKILL, a crash, `os._exit`, out of memory) leaves its executions `Running` or `Cancelling` with a
lease nobody renews. Its queue message comes back only when the queue's own lease lapses (up to 10 minutes), so a
timer (functions/timer/recovery.py, every 15 s by default) looks for expired leases instead: one server-filtered
range read per scope (Running or Cancelling), and for each execution whose lease expired:

| record                                                   | recovery                                       |
|----------------------------------------------------------|------------------------------------------------|
| Cancelling                                               | Cancelled                                      |
| Running, its deadline passed                             | Timeout                                        |
| Running, queued (async), attempts left                   | its message sent again: a worker takes it over |
| Running, queued, `CONDUIT_MAX_ATTEMPTS` attempts used    | Failed (`HostDied`)                            |
| Running, synchronous (its caller already got an error)   | Failed (`HostDied`), not run again             |
|   (unless it was woken from Waiting: that run is queued)  |                                                |

A message is sent again at most once per lease length (`requeued_at`). The clean-up timer applies the same rules as
a safety net. One failing scope or record is logged and counted, and the pass goes on with the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.engine.leases import LEASE_SECONDS
from shared.errors import ConflictError
from shared.executions.service import QUEUED, requeue
from shared.executions.services import Services
from shared.executions.worker import HOST_DIED, MAX_ATTEMPTS, TIMED_OUT, cancel_abandoned, host_died
from shared.models import ExecutionRecord, ExecutionStatus, utc_now

log = logging.getLogger("conduit.recovery")

STARTED = (ExecutionStatus.RUNNING, ExecutionStatus.CANCELLING)
SYNC_HOST_DIED = (
    "The host running this synchronous execution died before it finished; a sync run is not run again (its "
    "caller got an error, or was answered 202 and finds this outcome here)."
)


@dataclass
class PassReport:
    """What one recovery or clean-up pass changed, by execution id, and what it could not look at."""

    timed_out: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # scopes and execution ids that failed; retried next pass

    @property
    def changed(self) -> bool:
        return bool(self.timed_out or self.cancelled or self.requeued or self.failed or self.errors)

    def summary(self) -> str:
        return ", ".join(f"{len(v)} {k}" for k, v in vars(self).items() if v)


async def recover(services: Services, now: datetime | None = None) -> PassReport:
    """One pass over the Running and Cancelling executions of every scope."""
    now = now or utc_now()
    report = PassReport()
    for scope in await services.store.scopes():
        records = await read_scope(services, scope, STARTED, report)
        await settle_each(records, lambda record: settle_started(services, record, now, report), report)
    return report


async def read_scope(
    services: Services, scope: str, statuses: tuple[ExecutionStatus, ...], report: PassReport
) -> list[ExecutionRecord]:
    """The scope's executions in `statuses`; none (logged, counted) when the scope cannot be read."""
    try:
        return await services.store.active_executions(scope, statuses=statuses)
    except Exception:  # one scope must not stop the pass for the others
        log.exception("could not read the executions of scope %r; it is skipped in this pass", scope)
        report.errors.append(scope)
        return []


async def settle_each(
    records: Iterable[ExecutionRecord], settle: Callable[[ExecutionRecord], Awaitable[None]], report: PassReport
) -> None:
    """Settle every record; a record that changed meanwhile is left for the next pass, one that fails is counted."""
    for record in records:
        try:
            await settle(record)
        except ConflictError:
            log.info("execution %s changed during the pass; left for the next one", record.id)
        except Exception:  # one record must not stop the pass for the others
            log.exception("could not settle execution %s; it is retried in the next pass", record.id)
            report.errors.append(record.id)


async def settle_started(services: Services, record: ExecutionRecord, now: datetime, report: PassReport) -> None:
    """The table in the module docstring, for one Running or Cancelling record."""
    if record.lease_alive(now):
        return
    if record.status is ExecutionStatus.CANCELLING:
        await cancel_abandoned(services, record)
        report.cancelled.append(record.id)
    elif record.deadline_at is not None and record.deadline_at <= now:
        await _finish(services, record.finished(ExecutionStatus.TIMEOUT, TIMED_OUT, "TimeoutError", now))
        report.timed_out.append(record.id)
    elif record.trigger.get("mode") != QUEUED and not record.resumes:  # a woken run is a queued one
        await _finish(services, record.finished(ExecutionStatus.FAILED, SYNC_HOST_DIED, HOST_DIED, now))
        report.failed.append(record.id)
    elif record.attempt >= MAX_ATTEMPTS:
        await _finish(services, host_died(record, now))
        report.failed.append(record.id)
    elif record.requeued_at is None or now - record.requeued_at >= timedelta(seconds=LEASE_SECONDS):
        log.warning("execution %s: its host died (lease expired); sending it again for a takeover", record.id)
        await requeue(services, record, lost=False)
        report.requeued.append(record.id)


async def _finish(services: Services, record: ExecutionRecord) -> None:
    await services.store.finish(record, logs=[], steps=[])
