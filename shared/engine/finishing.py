"""Finishing an execution: the last write must not be lost, whatever storage does.

`finish` ends every persisted execution in a terminal record, trying in this order:

1. the full outcome (status, result, the log lines not flushed yet, the steps), ETag-conditionally; transient storage
   failures are retried with a bounded exponential backoff for `CONDUIT_FINISH_RETRY_SECONDS`. A result above the
   16 MiB limit is stored as `Failed` / `ResultTooLarge`; steps and log lines too large for a row are stored cut,
   with a marker (shared/storage/steps.py, logs.py), so they never fail the write;
2. if that cannot be stored, a minimal `Failed` record with `error_type` `PersistenceError` saying what was lost
   (no output, steps or further log lines), which also releases the lease;
3. if storage cannot take even that, the pending write goes to this process's background finisher (finisher.py),
   which keeps trying until storage is back, and the caller gets `FinishPendingError` (HTTP 503, Retry-After).

A record changed meanwhile (a cancel request, a lease renewal) is re-read and the write tried again; a record taken
over by another attempt, or already terminal, is left alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.engine import finisher
from shared.engine.deadline import CANCELLED_BY_USER
from shared.engine.durable import until_of
from shared.engine.leases import WORKER_ID
from shared.errors import (
    ExecutionAlreadyFinishedError,
    ExecutionNotFoundError,
    FinishPendingError,
    PayloadTooLargeError,
    StaleRecordError,
)
from shared.models import ExecutionRecord, ExecutionResult, ExecutionStatus, utc_now
from shared.storage.outage import is_storage_outage, retry_after_seconds
from shared.storage.retrying import retrying

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation
    from shared.storage.executions import ExecutionStore

log = logging.getLogger("conduit.engine")

PERSISTENCE_ERROR = "PersistenceError"
_CONFLICT_ATTEMPTS = 3
_RESULT_FIELDS = ("output_data", "variables")
Write = Callable[["ExecutionStore", "Invocation", ExecutionResult], Awaitable[ExecutionResult]]


@dataclass(frozen=True)
class FinishSettings:
    """How long `finish` keeps trying; read from the environment when a write fails, so it costs nothing before."""

    retry_seconds: float = 10.0  # CONDUIT_FINISH_RETRY_SECONDS: the full write, before falling back
    backoff_cap_seconds: float = 5.0  # CONDUIT_FINISH_BACKOFF_MAX_SECONDS: the longest wait between two tries
    background_seconds: float = 900.0  # CONDUIT_FINISH_BACKGROUND_SECONDS: the least time the finisher keeps trying

    @classmethod
    def from_env(cls) -> FinishSettings:
        return cls(
            retry_seconds=_seconds("CONDUIT_FINISH_RETRY_SECONDS", cls.retry_seconds),
            backoff_cap_seconds=_seconds("CONDUIT_FINISH_BACKOFF_MAX_SECONDS", cls.backoff_cap_seconds),
            background_seconds=_seconds("CONDUIT_FINISH_BACKGROUND_SECONDS", cls.background_seconds),
        )


def _seconds(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        log.warning("ignoring %s=%r: not a number of seconds; using %s", name, os.environ.get(name), default)
        return default


async def finish(store: ExecutionStore, invocation: Invocation, result: ExecutionResult) -> ExecutionResult:
    """Write the terminal state once (see the module docstring); return the outcome as stored."""
    try:
        return await settle(store, invocation, result, write_full)
    except Exception as error:
        if not is_storage_outage(error):
            return await _fall_back(store, invocation, result, error, FinishSettings.from_env())
        settings = FinishSettings.from_env()
    try:
        return await retrying(lambda: settle(store, invocation, result, write_full), settings.retry_seconds,
                              settings.backoff_cap_seconds, f"finishing execution {invocation.request.execution_id}")
    except Exception as error:
        return await _fall_back(store, invocation, result, error, settings)


async def _fall_back(
    store: ExecutionStore, invocation: Invocation, result: ExecutionResult, error: Exception, settings: FinishSettings
) -> ExecutionResult:
    """The full outcome could not be stored: store a minimal PersistenceError record, or hand both to the finisher."""
    execution_id = invocation.request.execution_id
    failed = persistence_failed(result, error)
    log.error("execution %s ended %s but its outcome could not be stored (%s: %s); storing it as %s",
              execution_id, result.status.value, type(error).__name__, error, PERSISTENCE_ERROR)
    try:
        return await retrying(lambda: settle(store, invocation, failed, write_minimal), settings.retry_seconds / 3,
                              settings.backoff_cap_seconds, f"storing {PERSISTENCE_ERROR} for execution {execution_id}")
    except Exception as last:
        log.error("execution %s: storage did not take even a minimal record (%s: %s)", execution_id,
                  type(last).__name__, last)
    attempts = [lambda: settle(store, invocation, result, write_full),
                lambda: settle(store, invocation, failed, write_minimal)]
    finisher.hand_over(execution_id, result.status.value, attempts, _give_up_after(invocation.record, settings),
                       settings.backoff_cap_seconds)
    raise FinishPendingError(execution_id, result.status.value, retry_after_seconds=retry_after_seconds()) from error


def _give_up_after(record: ExecutionRecord | None, settings: FinishSettings) -> float:
    """Seconds the finisher keeps trying: until the execution's deadline (start + timeout + grace), at least
    `background_seconds`; after the deadline, clean-up finishes a record that is still not terminal."""
    floor = settings.background_seconds
    if record is None or record.deadline_at is None:
        return floor
    return max(floor, (record.deadline_at - utc_now()) / timedelta(seconds=1))


async def settle(
    store: ExecutionStore, invocation: Invocation, result: ExecutionResult, write: Write
) -> ExecutionResult:
    """`write` the outcome; a record changed meanwhile is re-read and written again, unless it was taken over by
    another worker or attempt, or is already terminal (then that is what stands)."""
    for _ in range(_CONFLICT_ATTEMPTS):
        record = invocation.record
        assert record is not None
        try:
            return await write(store, invocation, result)
        except ExecutionAlreadyFinishedError as exc:
            log.warning("execution %s already finished (%s); this result is not stored", record.id, exc.status)
            return replace(result, status=ExecutionStatus(exc.status)) if exc.status else result
        except ExecutionNotFoundError:
            log.warning("execution %s has no record any more; this result is not stored", record.id)
            return result
        except StaleRecordError:
            fresh = await store.get(record.scope, record.id, light=True)
            if fresh is not None and fresh.status.is_terminal:  # finished meanwhile (e.g. cancelled by clean-up)
                log.warning("execution %s already finished (%s); this result is not stored", record.id, fresh.status)
                return replace(result, status=fresh.status)
            if fresh is None or fresh.lease_owner not in (WORKER_ID, None) or fresh.attempt != record.attempt:
                log.warning("execution %s was taken over by %s; this run's result is not stored", record.id,
                            fresh.lease_owner if fresh else "nobody")
                return result
            invocation.record = fresh
    raise StaleRecordError(f"Execution {invocation.request.execution_id} kept changing while being finished.")


async def write_full(store: ExecutionStore, invocation: Invocation, result: ExecutionResult) -> ExecutionResult:
    """The terminal state with the log lines not flushed while it ran, and the steps; a result too large to store
    becomes `Failed` / `ResultTooLarge`."""
    # The capture's pending lines, not result.logs[flushed:]: a queued run's flushed lines have left result.logs.
    flushed, unflushed = invocation.capture.flushed, invocation.capture.pending()
    breaks = invocation.capture.page_breaks()  # a flush still in doubt keeps its pages exactly as it sent them
    assert invocation.record is not None
    record = replace(invocation.record, log_count=flushed)
    if result.status is ExecutionStatus.WAITING and record.status is ExecutionStatus.CANCELLING:
        result = replace(result, status=ExecutionStatus.CANCELLED, waiting=None, error_type="Cancelled",
                         error_message=CANCELLED_BY_USER)  # asked to stop while it paused: it stops
    steps = invocation.context.steps.unwritten(result.steps)  # DAG node steps were written as the nodes ended
    try:
        await store.finish(final_record(record, result), unflushed, steps, page_breaks=breaks)
    except PayloadTooLargeError as exc:
        if not (isinstance(exc.details, dict) and exc.details.get("field") in _RESULT_FIELDS):
            raise
        result = replace(result, status=ExecutionStatus.FAILED, result=None, variables=None,
                         error_type="ResultTooLarge", error_message=exc.message)
        await store.finish(final_record(record, result), unflushed, steps, page_breaks=breaks)
    return result


async def write_minimal(store: ExecutionStore, invocation: Invocation, result: ExecutionResult) -> ExecutionResult:
    """Only the record's terminal state, lease released: no output, no steps, no further log lines."""
    assert invocation.record is not None
    record = replace(invocation.record, log_count=invocation.capture.flushed)
    await store.finish(final_record(record, replace(result, result=None, variables=None)), [], [])
    return result


def persistence_failed(result: ExecutionResult, error: BaseException) -> ExecutionResult:
    """The outcome to store when the real one cannot be: `Failed` / PersistenceError, saying what was lost."""
    message = (
        f"The execution ended {result.status.value}, but its outcome could not be stored ({_reason(error)}). "
        "Its output, steps and the log lines not written while it ran were not kept."
    )
    return replace(result, status=ExecutionStatus.FAILED, result=None, variables=None, steps=[],
                   error_type=PERSISTENCE_ERROR, error_message=message)


def _reason(error: BaseException) -> str:
    """What went wrong, without storage's internal detail (account URLs, request ids)."""
    if is_storage_outage(error):
        return f"storage kept failing: {type(error.__cause__ or error).__name__}"
    text = str(error) if isinstance(error, (ValueError, PayloadTooLargeError)) else type(error).__name__
    return text[:500]


def final_record(record: ExecutionRecord, result: ExecutionResult) -> ExecutionRecord:
    """The record as this run leaves it: terminal, or Waiting (no lease, and no deadline but the wait's own end:
    waiting is not running, so `timeout_seconds` does not count it; see shared.engine.durable)."""
    if result.status is ExecutionStatus.WAITING:
        retries = (result.waiting or {}).get("retries", record.retries)  # a Python workflow's retry (retries.py)
        return replace(record, status=result.status, waiting=result.waiting, error_message=result.error_message,
                       error_type=result.error_type, retries=retries, lease_owner=None, lease_expires_at=None,
                       deadline_at=until_of(result.waiting))
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
        waiting=None,
    )
