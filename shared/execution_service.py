"""The programmatic way to run a workflow: schedulers, forms, webhooks and the HTTP handlers all come here.

`submit` validates first (bad input never reaches storage), then either runs the workflow to completion
(`wait=True`) or records it `Pending` and queues a reference to it (`wait=False`). Nothing else builds queue
messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.errors import FieldError, InputValidationError
from shared.models import (
    GLOBAL_SCOPE,
    SYSTEM_CALLER,
    Caller,
    ExecutionRecord,
    ExecutionRequest,
    ExecutionResult,
    ExecutionStatus,
)
from shared.queueing import ExecutionMessage
from shared.runtime import Runtime, get_runtime

TRIGGER_KINDS = ("webhook", "schedule", "form", "chat", "http", "api", "script")
MAX_IDEMPOTENCY_KEY = 256


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
    if call.idempotency_key:
        existing = await runtime.store.claim_idempotency_key(
            request.effective_scope, call.idempotency_key, request.execution_id
        )
        if existing is not None:
            return Submission(existing.id, existing.status, duplicate=True)
    return await _enqueue(runtime, request, invocation.timeout_seconds)


async def _enqueue(runtime: Runtime, request: ExecutionRequest, timeout_seconds: float) -> Submission:
    record = ExecutionRecord(
        id=request.execution_id,
        scope=request.effective_scope,
        workflow_name=request.name or "",
        status=ExecutionStatus.PENDING,
        trigger=request.trigger,
        caller=request.caller.to_dict() | {"is_platform_admin": request.caller.is_platform_admin},
        input_data=request.parameters,
        timeout_seconds=int(timeout_seconds),
    )
    await runtime.store.create(record)
    await runtime.queue.send(ExecutionMessage(record.id, record.scope))
    return Submission(record.id, ExecutionStatus.PENDING)


async def requeue(runtime: Runtime, record: ExecutionRecord) -> None:
    """Send a Pending execution's message again (its first one was lost); counts the requeue in the record."""
    await runtime.store.update(record, requeues=record.requeues + 1)
    await runtime.queue.send(ExecutionMessage(record.id, record.scope))


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
