"""The engine's storage layer: `persisted` writes the record around the run.

`persisted` creates the record as Running (or takes the one a queue worker already claimed) and finishes it once,
ETag-conditionally, so that it always ends terminal (shared/engine/finishing.py). It also gives the execution's step
recorder its sink: a step that must be durable before the run goes on (a DAG node's) is written at once. While it
runs, `supervised` (shared/engine/supervision.py) keeps its lease and watches its record.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from shared.engine.finishing import finish
from shared.engine.leases import WORKER_ID, deadline_for, lease_until
from shared.models import ExecutionRecord, ExecutionResult, ExecutionStatus

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation
    from shared.storage.executions import ExecutionStore

log = logging.getLogger("conduit.engine")
Step = Callable[["Invocation"], Awaitable[ExecutionResult]]


def persisted(store_of: Callable[[], ExecutionStore | None], call: Step) -> Step:
    """Write the record as Running before the call and finish it once after, unless the request is transient."""

    async def run(invocation: Invocation) -> ExecutionResult:
        store = store_of()
        if invocation.request.transient or store is None:
            return await call(invocation)
        if invocation.record is None:
            invocation.record = await store.create(running_record(invocation))
        record = invocation.record
        invocation.context.steps.sink = functools.partial(store.write_steps, record.id, attempt=record.attempt)
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
        trigger_data=request.trigger_data,
        started_at=started,
        timeout_seconds=int(invocation.timeout_seconds),
        lease_owner=WORKER_ID,
        lease_expires_at=lease_until(started),
        deadline_at=deadline_for(started, invocation.timeout_seconds),
        definition_version=request.definition_version,
        definition_scope=request.definition_scope,
    )
