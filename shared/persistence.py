"""The engine's storage layer: `persisted` writes the record around the run.

`persisted` creates the record as Running (or takes the one a queue worker already claimed) and finishes it once,
ETag-conditionally. While it runs, `supervised` (shared/supervision.py) keeps its lease and watches its record.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from shared.errors import ExecutionAlreadyFinishedError, PayloadTooLargeError, StaleRecordError
from shared.leases import WORKER_ID, deadline_for, lease_until
from shared.models import ExecutionRecord, ExecutionResult, ExecutionStatus

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
