"""Run a queued execution: every accepted execution reaches exactly one terminal state.

Queue delivery is at least once, so the record — not the message — decides what happens:

| record                                   | what the worker does                                  |
|------------------------------------------|-------------------------------------------------------|
| missing                                  | nothing (logged); the message is acknowledged          |
| terminal                                 | duplicate delivery: acknowledged                       |
| Running or Cancelling with a live lease  | another worker has it: acknowledged, nothing runs      |
| Cancelling, no live lease                | Cancelled ("before it could start" if it never started)|
| Pending, or Running with an expired lease| claim it (ETag) and run it; a takeover counts an attempt |
| Running, expired lease, past its deadline| Timeout (its deadline will not move for a re-run)      |
| Running, expired lease, attempts used up | Failed (HostDied): its host died in every attempt      |
| Waiting, its wait ends later             | the message sent again, hidden for what is left (7-day hops) |
| Waiting, its wait ended                  | claim it and run it on (a wake-up: `resumes` + 1)      |
| Waiting for an event with no end         | nothing: the event's delivery sends a message of its own |

A takeover means the host that ran the previous attempt died (or stopped renewing its lease). Code that kills its own
process (`os._exit`, running out of memory) would otherwise be re-run forever, so after `CONDUIT_MAX_ATTEMPTS`
(default 3) attempts it ends Failed instead.
"""

from __future__ import annotations

import logging
import math
import os
from datetime import datetime
from enum import Enum

from shared.engine import recycling
from shared.engine.durable import is_due, until_of, wake_delay
from shared.engine.leases import WORKER_ID, deadline_for, lease_until
from shared.engine.supervision import running_here
from shared.errors import BadMessageError, ConflictError
from shared.executions.services import Services
from shared.models import ExecutionRecord, ExecutionStatus, utc_now
from shared.storage.queues import ExecutionMessage
from shared.version import code_version

log = logging.getLogger("conduit.worker")

CANCELLED_BEFORE_START = "Execution was cancelled before it could start"
CANCELLED_UNATTENDED = "Execution cancelled by user (no worker was running it any more)"
TIMED_OUT = "Execution timed out: its worker stopped before finishing and its deadline has passed"
HOST_DIED = "HostDied"
MAX_ATTEMPTS = max(1, int(os.environ.get("CONDUIT_MAX_ATTEMPTS", "3")))
_ATTEMPTS_TO_DECIDE = 3


class Action(Enum):
    """What a delivery of an execution message should lead to."""

    IGNORE_MISSING = "missing"
    IGNORE_FINISHED = "already finished"
    IGNORE_RUNNING = "running elsewhere"
    CANCEL = "cancel"
    CLAIM = "claim"
    SNOOZE = "not due yet"
    IGNORE_WAITING = "waiting for an event"
    UNREADABLE = "unreadable"


def decide(record: ExecutionRecord | None, now: datetime) -> Action:
    """The table in the module docstring, as code."""
    if record is None:
        return Action.IGNORE_MISSING
    if record.status.is_terminal:
        return Action.IGNORE_FINISHED
    if record.status is ExecutionStatus.CANCELLING:
        return Action.IGNORE_RUNNING if record.lease_alive(now) else Action.CANCEL
    if record.status is ExecutionStatus.RUNNING and record.lease_alive(now):
        return Action.IGNORE_RUNNING
    if record.status is ExecutionStatus.WAITING:
        until = until_of(record.waiting)
        if until is None:
            return Action.IGNORE_WAITING
        return Action.CLAIM if is_due(until, now) else Action.SNOOZE
    return Action.CLAIM


async def process_message(services: Services, body: bytes | str, dequeue_count: int = 1) -> Action:
    """Handle one delivery. Raises only for failures worth a retry (storage).

    A message that is not an execution reference goes to the poison queue at once and is acknowledged: no retry
    could ever read it. The poison handler logs the one line that says why (shared.executions.poison)."""
    try:
        message = ExecutionMessage.decode(body)
    except BadMessageError:
        await services.queue.send_to_poison(body)
        log.debug("unreadable execution message forwarded to %s-poison", services.queue.name)
        return Action.UNREADABLE
    if not recycling.accepting_work():
        await recycling.turn_away()  # this host is being replaced: the message is left for another (never acked)
    for _ in range(_ATTEMPTS_TO_DECIDE):
        record = await services.store.get(message.scope, message.execution_id)
        action = decide(record, utc_now())
        try:
            await _act(services, action, record, dequeue_count)
        except ConflictError:
            continue  # the record changed under us (a cancel, another worker): decide again
        return action
    raise ConflictError(f"Execution {message.execution_id} kept changing while being picked up; will retry.")


async def _act(services: Services, action: Action, record: ExecutionRecord | None, dequeue_count: int) -> None:
    if action is Action.SNOOZE and record is not None:
        await snooze(services, record)
        return
    if record is None or action in (Action.IGNORE_MISSING, Action.IGNORE_FINISHED, Action.IGNORE_RUNNING,
                                    Action.IGNORE_WAITING):
        shown = record.status.value if record else "no record"
        log.info("execution message ignored (%s, %s, delivery %d)", action.value, shown, dequeue_count)
        return
    if action is Action.CANCEL:
        await cancel_abandoned(services, record)
        return
    if running_here(record.id):
        log.info("execution message ignored (this process is running it; delivery %d)", dequeue_count)
        return
    ended = ended_by_takeover(record, utc_now())
    if ended is not None:
        log.warning("execution %s is not taken over: %s", record.id, ended.error_message)
        await services.store.finish(ended, logs=[], steps=[])
        return
    await services.engine.run_claimed(await claim(services, record))


def ended_by_takeover(record: ExecutionRecord, now: datetime) -> ExecutionRecord | None:
    """The terminal record a takeover of `record` must write instead of running it again, or None to run it."""
    if record.status is not ExecutionStatus.RUNNING:
        return None
    if record.deadline_at is not None and record.deadline_at <= now:
        return record.finished(ExecutionStatus.TIMEOUT, TIMED_OUT, "TimeoutError", now)
    if record.attempt >= MAX_ATTEMPTS:
        return host_died(record, now)
    return None


def host_died(record: ExecutionRecord, now: datetime) -> ExecutionRecord:
    """Failed (HostDied): the host running it died in each of its attempts, so it is not run again."""
    return record.finished(ExecutionStatus.FAILED, host_died_reason(record), HOST_DIED, now)


def host_died_reason(record: ExecutionRecord) -> str:
    return (
        f"The host running this execution died while running it (crashed, was killed, called os._exit or ran out "
        f"of memory) in attempt {record.attempt} of {MAX_ATTEMPTS}; it is not run again."
    )


async def claim(services: Services, record: ExecutionRecord) -> ExecutionRecord:
    """Pending -> Running (or a takeover of an expired lease, or a wake-up from Waiting), ETag-conditional, with a
    lease naming us. A run woken from waiting gets a deadline of its own: waiting is not running."""
    now = utc_now()
    takeover = record.status is ExecutionStatus.RUNNING
    if takeover:
        log.warning("taking over execution %s from %s (lease expired)", record.id, record.lease_owner)
    woken = record.status is ExecutionStatus.WAITING
    return await services.store.update(
        record,
        status=ExecutionStatus.RUNNING,
        started_at=record.started_at if (woken or record.resumes) and record.started_at else now,
        attempt=record.attempt + 1 if takeover else record.attempt,
        lease_owner=WORKER_ID,
        lease_expires_at=lease_until(now),
        deadline_at=deadline_for(now, record.timeout_seconds),
        code_version=code_version(),  # the host that runs it now
        **({"resumes": record.resumes + 1, "waiting": None} if woken else {}),
    )


async def snooze(services: Services, record: ExecutionRecord) -> None:
    """A wake-up that came early (a wait longer than the queue can hide a message, or a duplicate): send it again,
    hidden for what is left of the wait."""
    delay = wake_delay(until_of(record.waiting))
    if delay:
        await services.queue.send(ExecutionMessage(record.id, record.scope), delay_seconds=math.ceil(delay))
    log.info("execution %s waits until %s; its wake-up was sent again", record.id, (record.waiting or {}).get("until"))


async def cancel_abandoned(services: Services, record: ExecutionRecord) -> None:
    """Finish a Cancelling execution that no worker is running as Cancelled (ETag-conditional, like every finish)."""
    reason = CANCELLED_BEFORE_START if record.started_at is None else CANCELLED_UNATTENDED
    cancelled = record.finished(ExecutionStatus.CANCELLED, reason, "Cancelled", utc_now())
    await services.store.finish(cancelled, logs=[], steps=[])
