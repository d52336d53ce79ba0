"""The engine's storage layers: `persisted` writes the record around the run, `supervised` keeps it honest.

`persisted` creates the record as Running (or takes the one a queue worker already claimed) and finishes it once,
ETag-conditionally. `supervised` runs beside a persisted execution: it renews the worker's lease, watches the
record, so a cancel request that lands on any host stops the run within about a second, and flushes the log lines
written so far, so a running execution can be tailed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from shared.errors import ExecutionAlreadyFinishedError, PayloadTooLargeError, StaleRecordError
from shared.leases import CANCEL_POLL_SECONDS, LEASE_SECONDS, WORKER_ID, deadline_for, lease_until
from shared.models import ExecutionRecord, ExecutionResult, ExecutionStatus, utc_now

if TYPE_CHECKING:
    from shared.engine import Invocation
    from shared.storage.executions import ExecutionStore

log = logging.getLogger("conduit.engine")
Step = Callable[["Invocation"], Awaitable[ExecutionResult]]
_FINISH_ATTEMPTS = 3


def persisted(store_of: Callable[[], ExecutionStore | None], call: Step) -> Step:
    """Write the record as Running before the call and finish it once after, unless the request is transient."""

    async def run(invocation: Invocation) -> ExecutionResult:
        store = store_of()
        if invocation.request.transient or store is None:
            return await call(invocation)
        if invocation.record is None:
            invocation.record = await store.create(running_record(invocation))
        result = await call(invocation)
        return await finish(store, invocation, result)

    return run


def running_record(invocation: Invocation) -> ExecutionRecord:
    """The record an execution started over HTTP (not queued) is created with."""
    request, started = invocation.request, invocation.started_at
    return ExecutionRecord(
        id=request.execution_id,
        scope=invocation.context.scope,
        workflow_name=invocation.function_name,
        status=ExecutionStatus.RUNNING,
        trigger=request.trigger,
        caller=request.caller.to_dict(),
        input_data=request.parameters,
        started_at=started,
        timeout_seconds=int(invocation.timeout_seconds),
        lease_owner=WORKER_ID,
        lease_expires_at=lease_until(started),
        deadline_at=deadline_for(started, invocation.timeout_seconds),
    )


async def finish(store: ExecutionStore, invocation: Invocation, result: ExecutionResult) -> ExecutionResult:
    """Write the terminal state once. A record changed meanwhile (a cancel request) is re-read and retried."""
    for _ in range(_FINISH_ATTEMPTS):
        record = invocation.record
        assert record is not None
        try:
            return await _write_final(store, invocation, result)
        except ExecutionAlreadyFinishedError as exc:
            log.warning("execution %s already finished (%s); this result is not stored", record.id, exc.status)
            return replace(result, status=ExecutionStatus(exc.status)) if exc.status else result
        except StaleRecordError:
            fresh = await store.get(record.scope, record.id)
            if fresh is None or fresh.lease_owner not in (WORKER_ID, None):
                log.warning("execution %s was taken over by %s; this run's result is not stored", record.id,
                            fresh.lease_owner if fresh else "nobody")
                return result
            invocation.record = fresh
    raise StaleRecordError(f"Execution {invocation.request.execution_id} kept changing while being finished.")


async def _write_final(store: ExecutionStore, invocation: Invocation, result: ExecutionResult) -> ExecutionResult:
    """The terminal state with the log lines not flushed while it ran, and the steps."""
    flushed = invocation.capture.flushed
    assert invocation.record is not None
    record = replace(invocation.record, log_count=flushed)
    try:
        await store.finish(final_record(record, result), result.logs[flushed:], result.steps)
    except PayloadTooLargeError as exc:
        result = replace(result, status=ExecutionStatus.FAILED, result=None, variables=None,
                         error_type="ResultTooLarge", error_message=exc.message)
        await store.finish(final_record(record, result), result.logs[flushed:], result.steps)
    return result


def final_record(record: ExecutionRecord, result: ExecutionResult) -> ExecutionRecord:
    return replace(
        record,
        status=result.status,
        output_data=result.result,
        variables=result.variables,
        error_message=result.error_message,
        error_type=result.error_type,
        completed_at=result.completed_at,
        duration_ms=result.duration_ms,
        lease_owner=None,
        lease_expires_at=None,
    )


def supervised(store_of: Callable[[], ExecutionStore | None], call: Step) -> Step:
    """Run the call as a task while a watcher renews the lease and looks for a cancel request."""

    async def run(invocation: Invocation) -> ExecutionResult:
        store = store_of()
        if store is None or invocation.record is None:
            return await call(invocation)
        task = asyncio.ensure_future(call(invocation))
        watcher = asyncio.ensure_future(_watch(store, invocation, task))
        try:
            return await task
        except asyncio.CancelledError:
            task.cancel()  # the host is stopping this invocation: stop the user code too
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    return run


async def _watch(store: ExecutionStore, invocation: Invocation, task: asyncio.Future[ExecutionResult]) -> None:
    """Every CANCEL_POLL_SECONDS read the record; renew the lease at a third of its length."""
    renew_every = max(LEASE_SECONDS / 3, CANCEL_POLL_SECONDS)
    last_renewal = asyncio.get_running_loop().time()
    while not task.done():
        await asyncio.sleep(CANCEL_POLL_SECONDS)
        try:
            last_renewal = await _check(store, invocation, task, last_renewal, renew_every)
        except Exception:  # the watcher must never take the execution down; the next round tries again
            log.exception("watching execution %s failed", invocation.request.execution_id)


async def _check(
    store: ExecutionStore,
    invocation: Invocation,
    task: asyncio.Future[ExecutionResult],
    last_renewal: float,
    renew_every: float,
) -> float:
    record = invocation.record
    assert record is not None
    fresh = await store.get(record.scope, record.id)
    if fresh is None or fresh.status.is_terminal or fresh.lease_owner not in (WORKER_ID, None):
        return last_renewal  # finished or taken over elsewhere: `finish` will find out and not overwrite it
    invocation.record = fresh
    if fresh.status is ExecutionStatus.CANCELLING and not invocation.cancel_requested:
        log.info("cancelling execution %s on request", fresh.id)
        invocation.cancel_requested = True
        task.cancel()
        return last_renewal
    await _flush_logs(store, invocation)
    now = asyncio.get_running_loop().time()
    if now - last_renewal >= renew_every:
        with contextlib.suppress(StaleRecordError):
            invocation.record = await store.update(fresh, lease_expires_at=lease_until(utc_now()))
        return now
    return last_renewal


async def _flush_logs(store: ExecutionStore, invocation: Invocation) -> None:
    """Write the lines logged since the last round, so `GET .../logs?after=N` can tail a running execution."""
    lines = invocation.capture.pending()
    if lines:
        await store.append_logs(invocation.request.execution_id, lines)
        invocation.capture.mark_flushed(len(lines))
