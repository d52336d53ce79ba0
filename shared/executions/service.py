"""The programmatic way to run a workflow: schedulers, forms, webhooks and the HTTP handlers all come here.

`submit` validates first (bad input never reaches storage), then either runs the workflow now (`wait=True`) or
records it `Pending` and queues a reference to it (`wait=False`). Nothing else builds queue messages. HTTP handlers
call `submit` and map its errors to statuses; code calls `execute_workflow`, the execution-service seed's contract
(a `backend`, ValueError for what cannot be called, RuntimeError for a waited run that failed).

A run "now" is waited for at most CONDUIT_SYNC_WAIT_SECONDS (default 100): Azure's front end ends an HTTP response
after 230 s, so a caller still waiting then would get a gateway error and lose the execution id. Past the wait the
caller is answered with the id (status Running) and the run goes on to its terminal state (shared.executions.detached).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
from dataclasses import dataclass, field, replace
from typing import Any

from azure.core.exceptions import AzureError

from shared.engine import finisher, recycling
from shared.engine.finishing import FinishSettings
from shared.engine.invocation import Invocation
from shared.engine.persistence import running_record
from shared.errors import (
    ConduitError,
    ConflictError,
    ExecutionAlreadyFinishedError,
    ExecutionFailedError,
    FieldError,
    InputValidationError,
    ServiceCallError,
    StaleRecordError,
    StorageError,
    UnknownWorkflowError,
    WorkflowNotFoundError,
)
from shared.executions import detached
from shared.executions.services import Services
from shared.identity import policy
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
from shared.storage.idempotency import SEND_FAILED
from shared.storage.listing import form_id_problem
from shared.storage.queues import ExecutionMessage

log = logging.getLogger("conduit.executions")

TRIGGER_KINDS = ("webhook", "schedule", "form", "chat", "http", "api", "script")
MAX_IDEMPOTENCY_KEY = 256
QUEUED = "async"  # trigger["mode"] of an execution that was queued: a host crash re-runs it (see recovery.py)
SYNC_WAIT_SETTING = "CONDUIT_SYNC_WAIT_SECONDS"
DEFAULT_SYNC_WAIT_SECONDS = 100.0
FRONT_END_LIMIT_SECONDS = 230  # Azure's front end ends an HTTP response after this, whatever the function does
BACKENDS = {"local": True, "queue": False}  # execute_workflow's backend -> wait
FAILED_STATUSES = (ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT, ExecutionStatus.CANCELLED)


@dataclass
class Submission:
    """What `submit` did: the execution id, its status, and the result when it ran to completion."""

    execution_id: str
    status: ExecutionStatus
    result: ExecutionResult | None = None
    duplicate: bool = False
    record: ExecutionRecord | None = None  # a duplicate's execution as stored (its outcome, when it has finished)


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
    wait: bool | None = None  # None: the workflow's declared execution_mode decides
    idempotency_key: str | None = None
    # A webhook delivery's id (Idempotency-Key header, or the sender's delivery id): a redelivery within 24 hours
    # answers with the first execution, sync or async; the key is the workflow's own (another workflow's is another).
    delivery_id: str | None = None
    trigger_data: dict[str, Any] | None = None  # a webhook's request, for `context.trigger` (see ExecutionRequest)
    log_level: str | None = None  # platform admins only (shared.identity.policy)
    max_wait_seconds: float | None = None  # a sync run: None waits CONDUIT_SYNC_WAIT_SECONDS; math.inf to the end
    # A queued run's id, fixed by the caller (a schedule's slot, shared.models.slot_execution_id): when it exists
    # already, the submit answers with that execution (`duplicate`) instead of running it twice.
    execution_id: str | None = None
    # A rerun (shared.executions.durable): the original, the DAG version it ran, and for `from_failed` whose
    # recorded node outputs to reuse.
    rerun_of: str | None = None
    resume_from: str | None = None
    definition_version: int | None = None
    definition_scope: str | None = None

    def resolved_caller(self) -> Caller:
        if self.caller is not None:
            return self.caller
        scope = self.organization_id or GLOBAL_SCOPE
        if self.user_id is None:  # code started it (a schedule, a DAG step): the system, recorded as kind "system"
            return replace(SYSTEM_CALLER, scope=scope)
        return Caller(user_id=self.user_id, scope=scope)

    def trigger(self) -> dict[str, Any]:
        trigger = dict(self.trigger_payload or {"kind": "webhook"})
        trigger.setdefault("kind", "webhook")
        if self.session_id:
            trigger["session_id"] = self.session_id
        if self.metadata:
            trigger["metadata"] = self.metadata
        if self.log_level:  # rides in the trigger, so a queued run gets it too
            trigger["log_level"] = self.log_level
        return trigger


async def submit(services: Services, call: WorkflowCall) -> Submission:
    """Validate, then run now (`wait`) or record Pending and enqueue."""
    _check_call(call)
    caller = call.resolved_caller()
    request = ExecutionRequest(
        caller=caller,
        name=call.workflow_name,
        parameters=call.input_data,
        scope=policy.scope_for(caller, call.organization_id),
        trigger=call.trigger(),
        trigger_data=call.trigger_data,
        definition_version=call.definition_version,
        definition_scope=call.definition_scope,
        rerun_of=call.rerun_of,
        resume_from=call.resume_from,
    )
    await services.engine.resolve(request)  # a stored DAG: found, and its current version pinned to this run
    metadata = request.definition or services.registry.get(call.workflow_name)
    if metadata is None or not metadata.is_workflow:
        raise WorkflowNotFoundError(call.workflow_name)
    policy.check_may_run(caller, call.workflow_name)
    policy.check_log_level(caller, call.log_level)
    requested: policy.ExecutionMode | None = None if call.wait is None else "sync" if call.wait else "async"
    wait = policy.waits_for_result(metadata.execution_mode, requested, call.idempotency_key)
    if wait and call.execution_id is not None:
        raise ServiceCallError("execution_id can be fixed only for a queued run (wait=False)")
    if call.execution_id is not None:
        request.execution_id = call.execution_id
    invocation = services.engine.prepare(request)  # raises for unknown workflows and invalid input, before storage
    key = call.idempotency_key or delivery_key(call.workflow_name, call.delivery_id)
    if wait:
        limit = sync_wait_seconds() if call.max_wait_seconds is None else call.max_wait_seconds
        if key:
            return await _run_once(services, invocation, key, limit)
        return await _run_now(services, invocation, limit)
    return await _enqueue(services, request, invocation.timeout_seconds, key, call.execution_id is not None)


def delivery_key(workflow_name: str, delivery_id: str | None) -> str | None:
    """The idempotency key of a webhook delivery: bound to its workflow, so two endpoints never share one."""
    return None if delivery_id is None else f"delivery|{workflow_name}|{delivery_id}"


async def _run_once(services: Services, invocation: Invocation, key: str, limit: float) -> Submission:
    """Run now, unless `key` already names an execution: then answer with that one (finished: its outcome).

    The Running record is created together with its key row in one transaction before the run starts, so of two
    concurrent deliveries exactly one runs; the other is told the first one's id."""
    if not recycling.accepting_work():
        raise recycling.refuse()  # before anything is written: nothing will run here
    created = await services.store.create_with_key(running_record(invocation), key)
    if created.duplicate:
        first = created.record
        return Submission(first.id, first.status, duplicate=True, record=first)
    invocation.record = created.record
    return await _run_now(services, invocation, limit)


async def execute_workflow(services: Services, call: WorkflowCall, backend: str | None = None) -> str:
    """Run a workflow from code and return its execution id (the execution-service seed's contract).

    `backend="local"` runs it in this process and waits, like `wait=True`: at most CONDUIT_SYNC_WAIT_SECONDS unless
    `max_wait_seconds` says otherwise; a run still going then keeps running and its id is returned. `"queue"` (the
    seed's durable backend) records it Pending and queues it, like `wait=False`. Without either, `wait` decides,
    and without `wait` the workflow's `execution_mode`. Raises `ServiceCallError` (a ValueError) for an unknown
    backend or one that contradicts `wait`, `UnknownWorkflowError` (a ValueError) for an unknown workflow, and
    `ExecutionFailedError` (a RuntimeError) when a waited run ended Failed, Timeout or Cancelled.
    CompletedWithErrors is a run that finished and reported its errors in its result: its id is returned."""
    call = replace(call, wait=_wait_for(backend, call.wait))
    try:
        submission = await submit(services, call)
    except WorkflowNotFoundError as error:
        raise UnknownWorkflowError(error.name) from None
    result = submission.result
    if result is not None and result.status in FAILED_STATUSES:
        error_text = f"{result.error_type}: {result.error_message}" if result.error_type else result.error_message
        raise ExecutionFailedError(call.workflow_name, result.execution_id, result.status.value, error_text)
    return submission.execution_id


def _wait_for(backend: str | None, wait: bool | None) -> bool | None:
    """The `wait` a backend means; the two spellings may be given together only when they agree."""
    if backend is None:
        return wait
    if backend not in BACKENDS:
        hint = " (Conduit's durable backend, the seed's 'dbos', is 'queue')" if backend == "dbos" else ""
        raise ServiceCallError(f"backend must be 'local' or 'queue', got {backend!r}{hint}")
    if wait is not None and wait != BACKENDS[backend]:
        raise ServiceCallError(
            f"backend={backend!r} {'waits' if BACKENDS[backend] else 'queues'}, so it cannot be combined with "
            f"wait={wait}; pass one of them"
        )
    return BACKENDS[backend]


async def run_now(services: Services, request: ExecutionRequest) -> Submission:
    """Run a request now (an inline script), waiting for it as a sync workflow is waited for."""
    invocation = services.engine.prepare(request)  # raises for bad scripts and refused callers, before storage
    return await _run_now(services, invocation, sync_wait_seconds())


def sync_wait_seconds() -> float:
    """How long a sync request waits for its result (CONDUIT_SYNC_WAIT_SECONDS, default 100)."""
    return _parse_wait(os.environ.get(SYNC_WAIT_SETTING, "").strip())


@functools.cache  # one warning per bad value, not one per request
def _parse_wait(raw: str) -> float:
    if not raw:
        return DEFAULT_SYNC_WAIT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        log.warning("ignoring %s=%r: not a positive number of seconds; using %g", SYNC_WAIT_SETTING, raw,
                    DEFAULT_SYNC_WAIT_SECONDS)
        return DEFAULT_SYNC_WAIT_SECONDS
    if seconds >= FRONT_END_LIMIT_SECONDS:
        log.warning("%s=%g: on Azure a response ends after %d s, so a sync caller waiting that long gets a gateway "
                    "error instead of the execution id; keep it well below", SYNC_WAIT_SETTING, seconds,
                    FRONT_END_LIMIT_SECONDS)
    return seconds


async def _run_now(services: Services, invocation: Invocation, limit: float) -> Submission:
    """Run the invocation; past `limit` seconds answer with its id (Running) while it runs on to its end.

    Only a persisted run can be answered early: its record (created Running before the user code starts) is where
    the caller finds the outcome. A transient run has no record, so its caller waits for the result."""
    if invocation.request.transient or services.engine.store is None or limit == math.inf:
        result = await services.engine.run(invocation)
        return Submission(result.execution_id, result.status, result)
    task = asyncio.get_running_loop().create_task(services.engine.run(invocation))
    try:
        await asyncio.wait((task,), timeout=limit)
        while not task.done() and invocation.record is None:  # storage still creating it: no status URL yet
            await asyncio.wait((task,), timeout=0.05)
    except asyncio.CancelledError:
        task.cancel()  # the host stopped this request: stop its run, as when it ran in the request's own task
        raise
    if task.done():
        result = task.result()
        return Submission(result.execution_id, result.status, result)
    execution_id = invocation.request.execution_id
    log.info("sync execution %s still running after %g s; answering 202, it runs on", execution_id, limit)
    detached.keep(task, execution_id)
    return Submission(execution_id, ExecutionStatus.RUNNING)


async def _enqueue(
    services: Services, request: ExecutionRequest, timeout_seconds: float, key: str | None, fixed_id: bool = False
) -> Submission:
    """Record Pending (with its idempotency key, in the same transaction), then send the message."""
    record = ExecutionRecord(
        id=request.execution_id,
        scope=request.effective_scope,
        workflow_name=request.name or "",
        status=ExecutionStatus.PENDING,
        trigger=request.trigger | {"mode": QUEUED},
        caller=request.caller.to_dict(),
        input_data=request.parameters,
        trigger_data=request.trigger_data,
        timeout_seconds=int(timeout_seconds),
        definition_version=request.definition_version,
        definition_scope=request.definition_scope,
        rerun_of=request.rerun_of,
        resume_from=request.resume_from,
    )
    if key:
        created = await services.store.create_with_key(record, key)
        if created.duplicate:
            return Submission(created.record.id, created.record.status, duplicate=True)
        record = created.record
    elif fixed_id:
        # The id's time is the slot, not now: a slot caught up late would look long Pending to clean-up, which
        # goes by `requeued_at` first, so the submit time is written there.
        record, duplicate = await _create_or_find(services, replace(record, requeued_at=utc_now()))
        if duplicate:
            return Submission(record.id, record.status, duplicate=True, record=record)
    else:
        record = await services.store.create(record)
    await _send(services, record)
    return Submission(record.id, ExecutionStatus.PENDING)


async def _create_or_find(services: Services, record: ExecutionRecord) -> tuple[ExecutionRecord, bool]:
    """Create a record whose id the caller fixed, or find the execution already holding that id (`True`).

    A record that is still Pending exactly as this submit would write it (a retried submit whose message may never
    have been sent) is created "again": its message is sent once more, which is harmless — the worker's claim is
    ETag-conditional, so it runs once."""
    try:
        return await services.store.create(record), False
    except ConflictError:
        existing = await services.store.get(record.scope, record.id)
        if existing is None:
            raise
        return existing, True


async def _send(services: Services, record: ExecutionRecord) -> None:
    """Send the execution's message. If that fails, the record is marked Failed (it will not run) before the caller
    hears of it, so a caller who gets an error never finds the execution running later."""
    try:
        await services.queue.send(ExecutionMessage(record.id, record.scope))
    except (AzureError, OSError, TimeoutError) as error:
        if await _fail_unsent(services, record, error):
            raise StorageError(
                "The execution could not be queued (storage is unavailable); it was recorded as Failed and will not "
                "run. Submit it again.",
                details={"execution_id": record.id},
            ) from error


async def _fail_unsent(services: Services, record: ExecutionRecord, error: BaseException) -> bool:
    """Mark an execution whose message could not be sent Failed; False when a worker has it after all (the send
    reached the queue although it reported an error)."""
    reason = f"Its queue message could not be sent ({type(error).__name__}); it was not run."
    failed = record.finished(ExecutionStatus.FAILED, reason, SEND_FAILED, utc_now())
    try:
        await services.store.finish(failed, [], [])
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
        finisher.hand_over(record.id, ExecutionStatus.FAILED.value, [lambda: services.store.finish(failed, [], [])],
                           settings.background_seconds, settings.backoff_cap_seconds)
    return True


async def requeue(services: Services, record: ExecutionRecord, *, lost: bool = True) -> ExecutionRecord:
    """Send an execution's message again; `lost` counts it as a lost message (Pending) in `requeues`.

    The record is updated first, ETag-conditionally, so of two passes that look at the same record only one sends;
    a duplicate message would be harmless anyway (the record decides, the claim is ETag-conditional)."""
    now = utc_now()
    changes: dict[str, Any] = {"requeued_at": now} | ({"requeues": record.requeues + 1} if lost else {})
    updated = await services.store.update(record, **changes)
    await services.queue.send(ExecutionMessage(record.id, record.scope))
    return updated


def _check_call(call: WorkflowCall) -> None:
    errors = []
    kind = (call.trigger_payload or {}).get("kind", "webhook")
    if kind not in TRIGGER_KINDS:
        errors.append(FieldError("trigger_payload.kind", f"must be one of {', '.join(TRIGGER_KINDS)}"))
    if kind == "form":  # a form's executions are listed by `?form_id=`, so a form submission must name its form
        form_id = (call.trigger_payload or {}).get("form_id")
        problem = form_id_problem(form_id) if isinstance(form_id, str) else "is required for a form submission"
        if problem:
            errors.append(FieldError("trigger_payload.form_id", problem))
    key = call.idempotency_key
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        errors.append(FieldError("idempotency_key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"))
    delivery = call.delivery_id
    if delivery is not None and not 1 <= len(delivery) <= MAX_IDEMPOTENCY_KEY:
        errors.append(FieldError("delivery_id", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"))
    if errors:
        raise InputValidationError(errors)
