"""The engine's storage layer: `persisted` writes the record around the run.

`persisted` creates the record as Running (or takes the one a queue worker already claimed) and finishes it once,
ETag-conditionally, so that it always ends terminal (shared/engine/finishing.py). It also gives the execution's step
recorder its sink: a step that must be durable before the run goes on (a DAG node's) is written at once. While it
runs, `supervised` (shared/engine/supervision.py) keeps its lease and watches its record.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from shared.engine.durable import until_of, wake_delay, wake_if_delivered
from shared.engine.finishing import finish
from shared.engine.leases import WORKER_ID, deadline_for, lease_until
from shared.models import ExecutionRecord, ExecutionResult, ExecutionStatus
from shared.version import code_version

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation
    from shared.storage.executions import ExecutionStore
    from shared.storage.queues import ExecutionQueue

log = logging.getLogger("conduit.engine")
Step = Callable[["Invocation"], Awaitable[ExecutionResult]]


def persisted(store_of: Callable[[], ExecutionStore | None], call: Step,
              queue_of: Callable[[], ExecutionQueue | None] = lambda: None) -> Step:
    """Write the record as Running before the call and finish it once after, unless the request is transient.
    A run that ends Waiting with an end to its wait sends its wake-up message (shared.engine.durable)."""

    async def run(invocation: Invocation) -> ExecutionResult:
        store = store_of()
        if invocation.request.transient or store is None:
            return await call(invocation)
        if invocation.record is None:
            invocation.record = await store.create(running_record(invocation))
        record = invocation.record
        invocation.context.steps.sink = functools.partial(store.write_steps, record.id, attempt=record.attempt)
        result = await call(invocation)
        finished = await finish(store, invocation, result)
        if finished.status is ExecutionStatus.WAITING:
            queue = queue_of()
            await send_wake(queue, record.scope, record.id, finished.waiting)
            if invocation.events_seen is not None:  # an event delivered while it ran, before it paused: go on
                await _wake_if_delivered(store, queue, record, finished.waiting, invocation.events_seen)
        return finished

    return run


async def _wake_if_delivered(store: ExecutionStore, queue: ExecutionQueue | None, record: ExecutionRecord,
                             waiting: Any, seen: dict[str, int]) -> None:
    try:
        await wake_if_delivered(store, queue, record.scope, record.id, waiting, seen)
    except Exception as error:  # it stays Waiting: the event's sender can deliver again, its timeout still wakes it
        log.warning("execution %s: could not check for events delivered while it ran (%s)", record.id, error)


async def send_wake(queue: ExecutionQueue | None, scope: str, execution_id: str, waiting: Any) -> None:
    """Queue the message that wakes a Waiting execution when its wait ends; if it cannot be sent, the clean-up
    timer wakes the execution once its `until` has passed (shared.executions.cleanup)."""
    delay = wake_delay(until_of(waiting))
    if queue is None or delay is None:
        return
    from shared.storage.queues import ExecutionMessage  # the queue SDK is imported by whoever made `queue`

    try:
        await queue.send(ExecutionMessage(execution_id, scope), delay_seconds=math.ceil(delay))
    except Exception as error:  # the record is stored Waiting: clean-up is the safety net
        log.warning("execution %s: its wake-up could not be queued (%s); clean-up will wake it", execution_id, error)


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
        trigger_data=request.trigger_data,
        started_at=started,
        timeout_seconds=int(invocation.timeout_seconds),
        lease_owner=WORKER_ID,
        lease_expires_at=lease_until(started),
        deadline_at=deadline_for(started, invocation.timeout_seconds),
        definition_version=request.definition_version,
        definition_scope=request.definition_scope,
        rerun_of=request.rerun_of,
        resume_from=request.resume_from,
        code_version=code_version(),
    )
