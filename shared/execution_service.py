"""The programmatic way to run a workflow: schedulers, forms, webhooks and the HTTP handlers all come here.

`submit` validates first (bad input never reaches storage), then either runs the workflow to completion
(`wait=True`) or records it `Pending` and queues a reference to it (`wait=False`). Nothing else builds queue
messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError

from shared import finisher
from shared.errors import (
    ConduitError,
    ExecutionAlreadyFinishedError,
    FieldError,
    InputValidationError,
    StaleRecordError,
    StorageError,
)
from shared.finishing import FinishSettings
from shared.models import (
    GLOBAL_SCOPE,
    SYSTEM_CALLER,
    Caller,
    ExecutionRecord,
    ExecutionRequest,
    ExecutionResult,
    ExecutionStatus,
    utc_now,
)
from shared.queueing import ExecutionMessage
from shared.runtime import Runtime, get_runtime
from shared.storage.idempotency import SEND_FAILED

log = logging.getLogger("conduit.executions")

TRIGGER_KINDS = ("webhook", "schedule", "form", "chat", "http", "api", "script")
MAX_IDEMPOTENCY_KEY = 256
QUEUED = "async"  # trigger["mode"] of an execution that was queued: a host crash re-runs it (see shared.recovery)


@dataclass
class Submission:
    """What `submit` did: the execution id, its status, and the result when it ran to completion."""

    execution_id: str
    status: ExecutionStatus
    result: ExecutionResult | None = None
    duplicate: bool = False


@dataclass
class WorkflowCall:
    """One request to run a workflow, as internal callers describe it (the execution-service seed's arguments)."""

    workflow_name: str
    input_data: dict[str, Any] = field(default_factory=dict)
    caller: Caller | None = None
    user_id: str | None = None
    organization_id: str | None = None
    session_id: str | None = None
    trigger_payload: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    wait: bool = False
    idempotency_key: str | None = None

    def resolved_caller(self) -> Caller:
        if self.caller is not None:
            return self.caller
        scope = self.organization_id or GLOBAL_SCOPE
        if self.user_id is None:
            return Caller(user_id=SYSTEM_CALLER.user_id, name=SYSTEM_CALLER.name, is_platform_admin=True, scope=scope)
        return Caller(user_id=self.user_id, scope=scope)

    def trigger(self) -> dict[str, Any]:
        trigger = dict(self.trigger_payload or {"kind": "webhook"})
        trigger.setdefault("kind", "webhook")
        if self.session_id:
            trigger["session_id"] = self.session_id
        if self.metadata:
            trigger["metadata"] = self.metadata
        return trigger


async def execute_workflow(**arguments: Any) -> str:
    """Run a workflow programmatically and return its execution id (`wait=True` runs it to completion)."""
    return (await submit(WorkflowCall(**arguments))).execution_id


async def submit(call: WorkflowCall) -> Submission:
    """Validate, then run now (`wait`) or record Pending and enqueue."""
    runtime = await get_runtime()
    _check_call(call)
    caller = call.resolved_caller()
    request = ExecutionRequest(
        caller=caller,
        name=call.workflow_name,
        parameters=call.input_data,
        scope=call.organization_id or caller.scope,
        trigger=call.trigger(),
    )
    invocation = runtime.engine.prepare(request)  # raises for unknown workflows and invalid input, before storage
    if call.wait:
        result = await runtime.engine.run(invocation)
        return Submission(result.execution_id, result.status, result)
    return await _enqueue(runtime, request, invocation.timeout_seconds, call.idempotency_key)


async def _enqueue(runtime: Runtime, request: ExecutionRequest, timeout_seconds: float, key: str | None) -> Submission:
    """Record Pending (with its idempotency key, in the same transaction), then send the message."""
    record = ExecutionRecord(
        id=request.execution_id,
        scope=request.effective_scope,
        workflow_name=request.name or "",
        status=ExecutionStatus.PENDING,
        trigger=request.trigger | {"mode": QUEUED},
        caller=request.caller.to_dict() | {"is_platform_admin": request.caller.is_platform_admin},
        input_data=request.parameters,
        timeout_seconds=int(timeout_seconds),
    )
    if key:
        created = await runtime.store.create_with_key(record, key)
        if created.duplicate:
            return Submission(created.record.id, created.record.status, duplicate=True)
        record = created.record
    else:
        record = await runtime.store.create(record)
    await _send(runtime, record)
    return Submission(record.id, ExecutionStatus.PENDING)


async def _send(runtime: Runtime, record: ExecutionRecord) -> None:
    """Send the execution's message. If that fails, the record is marked Failed (it will not run) before the caller
    hears of it, so a caller who gets an error never finds the execution running later."""
    try:
        await runtime.queue.send(ExecutionMessage(record.id, record.scope))
    except (AzureError, OSError, TimeoutError) as error:
        if await _fail_unsent(runtime, record, error):
            raise StorageError(
                "The execution could not be queued (storage is unavailable); it was recorded as Failed and will not "
                "run. Submit it again.",
                details={"execution_id": record.id},
            ) from error


async def _fail_unsent(runtime: Runtime, record: ExecutionRecord, error: BaseException) -> bool:
    """Mark an execution whose message could not be sent Failed; False when a worker has it after all (the send
    reached the queue although it reported an error)."""
    reason = f"Its queue message could not be sent ({type(error).__name__}); it was not run."
    failed = record.finished(ExecutionStatus.FAILED, reason, SEND_FAILED, utc_now())
    try:
        await runtime.store.finish(failed, [], [])
    except ExecutionAlreadyFinishedError:
        return True  # cancelled meanwhile: it will not run either
    except StaleRecordError:
        log.warning("execution %s: the queue send reported an error, but a worker has claimed it", record.id)
        return False
    except ConduitError as problem:
        # Storage is away too: keep marking it Failed in the background, so it never runs after its caller was
        # told it failed (unless clean-up, finding it Pending past CONDUIT_PENDING_GRACE_SECONDS, requeues it first).
        log.error("execution %s could not be queued, nor marked Failed yet (%s)", record.id, problem.message)
        settings = FinishSettings.from_env()
        finisher.hand_over(record.id, ExecutionStatus.FAILED.value, [lambda: runtime.store.finish(failed, [], [])],
                           settings.background_seconds, settings.backoff_cap_seconds)
    return True


async def requeue(runtime: Runtime, record: ExecutionRecord, *, lost: bool = True) -> ExecutionRecord:
    """Send an execution's message again; `lost` counts it as a lost message (Pending) in `requeues`.

    The record is updated first, ETag-conditionally, so of two passes that look at the same record only one sends;
    a duplicate message would be harmless anyway (the record decides, the claim is ETag-conditional)."""
    now = utc_now()
    changes: dict[str, Any] = {"requeued_at": now} | ({"requeues": record.requeues + 1} if lost else {})
    updated = await runtime.store.update(record, **changes)
    await runtime.queue.send(ExecutionMessage(record.id, record.scope))
    return updated


def _check_call(call: WorkflowCall) -> None:
    errors = []
    kind = (call.trigger_payload or {}).get("kind", "webhook")
    if kind not in TRIGGER_KINDS:
        errors.append(FieldError("trigger_payload.kind", f"must be one of {', '.join(TRIGGER_KINDS)}"))
    key = call.idempotency_key
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        errors.append(FieldError("idempotency_key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"))
    if errors:
        raise InputValidationError(errors)
