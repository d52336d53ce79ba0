"""What callers do to durable executions: deliver an event to a Waiting one, rerun a finished one.

`deliver_event` stores the payload (shared.storage.executions `write_event`), then, when the execution waits for
that event, moves the record Waiting -> Pending ETag-conditionally and sends its message: any host's worker runs it
on, and the `wait_for_event` node takes the payload as its output. A DAG execution that is Pending or Running (its
wait not reached yet, or waking) keeps the event for its next wait of that name. An execution that has finished, is
being cancelled, or is paused waiting for other events answers 409, and nothing is stored.

`rerun` submits a new queued execution with the original's input and DAG version, linked by `rerun_of`; with
`from_failed` (a DAG execution that ended Failed, Timeout or Cancelled) it also reuses the original's successful
nodes (`resume_from`), so it starts again at the node that failed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.engine.durable import EVENT_NAME_PATTERN, awaited_events
from shared.errors import ConflictError, FieldError, InputValidationError, PayloadTooLargeError, StaleRecordError
from shared.executions.queries import DAG_NODE_STEP, get_execution
from shared.executions.service import TRIGGER_KINDS, Submission, WorkflowCall, submit
from shared.executions.services import Services
from shared.identity import policy
from shared.models import Caller, ExecutionRecord, ExecutionStatus, utc_now
from shared.storage.queues import ExecutionMessage

MAX_EVENT_BYTES = 64 * 1024
_EVENT_NAME = re.compile(EVENT_NAME_PATTERN)
_ATTEMPTS = 3
RUNS_ON = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)  # a DAG that takes an event at its next wait
RERUN_FROM = (ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.CANCELLED)


async def deliver_event(services: Services, caller: Caller, execution_id: str, name: str,
                        payload: Any) -> dict[str, Any]:
    """Deliver event `name` (see the module docstring); the `wait_for_event` node that takes it outputs `payload`."""
    _check_event(name, payload)
    record = await get_execution(services, caller, execution_id, check=policy.check_may_deliver_event)
    if not (record.status in RUNS_ON and _is_dag(services, record)):
        _check_waits_for(record, name)  # finished, cancelling, or waiting for other events: 409, nothing stored
    event = await services.store.write_event(record.id, name, payload)  # first: whoever runs it next finds it
    for _ in range(_ATTEMPTS):
        if record.status not in (ExecutionStatus.WAITING, *RUNS_ON):
            break  # finished meanwhile: the event is kept with it, unused
        if record.status in RUNS_ON:
            # Running or about to: its next wait for `name` takes the event. Read the record once more: a run that
            # paused meanwhile, before it could see the event, is woken here (it reads events after pausing too,
            # so one of the two always sees the other's write).
            fresh = await services.store.get(record.scope, record.id, light=True)
            if fresh is None or fresh.status is not ExecutionStatus.WAITING:
                break
            record = fresh
        if name not in awaited_events(record.waiting):
            break  # paused at a wait for another event: the event waits for its own
        try:
            record = await wake(services, record)
        except StaleRecordError:
            record = await get_execution(services, caller, execution_id, check=policy.check_may_deliver_event)
            continue
        break
    return {"execution_id": record.id, "status": record.status.value, "event": name,
            "delivered_at": event["delivered_at"]}


async def wake(services: Services, record: ExecutionRecord) -> ExecutionRecord:
    """Waiting -> Pending (ETag-conditional: StaleRecordError when it changed) and its message sent."""
    woken = await services.store.update(record, status=ExecutionStatus.PENDING, waiting=None,
                                        resumes=record.resumes + 1, requeued_at=utc_now(), requeues=0)
    await services.queue.send(ExecutionMessage(woken.id, woken.scope))  # lost: clean-up sends it again
    return woken


def _is_dag(services: Services, record: ExecutionRecord) -> bool:
    """Whether the execution runs a DAG (only a DAG's `wait_for_event` takes events)."""
    if record.definition_version is not None:
        return True
    metadata = services.registry.get(record.workflow_name)
    return metadata is not None and "dag" in metadata.tags


def _check_waits_for(record: ExecutionRecord, name: str) -> None:
    expected = awaited_events(record.waiting) if record.status is ExecutionStatus.WAITING else set()
    if name not in expected:
        raise ConflictError(_not_waiting(record.status, name, expected),
                            details={"status": record.status.value, "waiting_for": sorted(expected)})


def _check_event(name: str, payload: Any) -> None:
    errors = []
    if not _EVENT_NAME.match(name):
        errors.append(FieldError("name", "must be 1 to 64 letters, digits, '_', '.' or '-'"))
    if errors:
        raise InputValidationError(errors)
    size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_EVENT_BYTES:
        raise PayloadTooLargeError(f"An event's payload is at most {MAX_EVENT_BYTES} bytes as JSON; this one is "
                                   f"{size}.", details={"field": "body", "limit": MAX_EVENT_BYTES})


def _not_waiting(status: ExecutionStatus, name: str, expected: set[str]) -> str:
    if status is not ExecutionStatus.WAITING:
        return f"The execution is {status.value}, not waiting for an event; '{name}' was not delivered."
    return (f"The execution waits for {', '.join(sorted(expected)) or 'no event (a delay or a retry)'}, not "
            f"'{name}'; nothing was delivered.")


async def rerun(services: Services, caller: Caller, execution_id: str, *, from_failed: bool = False) -> Submission:
    """A new queued execution with the original's input (see the module docstring)."""
    original = await get_execution(services, caller, execution_id, check=policy.check_may_cancel)
    if not original.status.is_terminal:
        raise ConflictError(f"Execution '{execution_id}' is {original.status.value}; only a finished execution can "
                            "be run again.", details={"status": original.status.value})
    if from_failed:
        await _check_resumable(services, original.id, original.status, original.attempt)
    trigger = {k: v for k, v in original.trigger.items() if k in ("kind", "form_id", "log_level")} | {
        "rerun_of": original.id}
    if trigger.get("kind") not in TRIGGER_KINDS:
        trigger["kind"] = "api"
    call = WorkflowCall(
        workflow_name=original.workflow_name, input_data=dict(original.input_data or {}), caller=caller,
        trigger_payload=trigger, wait=False,
        rerun_of=original.id, resume_from=original.id if from_failed else None,
        definition_version=original.definition_version, definition_scope=original.definition_scope,
    )
    return await submit(services, call)


async def _check_resumable(services: Services, execution_id: str, status: ExecutionStatus, attempt: int) -> None:
    if status not in RERUN_FROM:
        raise ConflictError(f"from_failed resumes an execution that ended Failed, Timeout or Cancelled; this one "
                            f"ended {status.value}.", details={"status": status.value})
    steps = await services.store.get_steps(execution_id, attempt=attempt)
    if not any(step.get("step_type") == DAG_NODE_STEP for step in steps):
        raise ConflictError("from_failed resumes a DAG execution from its failed node; this execution recorded no "
                            "DAG nodes (rerun it without from_failed).", details={"status": status.value})
