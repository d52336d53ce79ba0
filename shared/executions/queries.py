"""Reading and cancelling executions on behalf of a caller; scope rules live here and nowhere else.

A caller sees only executions of its own scope, and a user who is no admin only its own (shared.identity.policy);
anything else is answered as if it did not exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.engine.durable import continues, load_history
from shared.engine.layers import CANCELLED_BY_USER
from shared.errors import ConflictError, ExecutionNotFoundError, FieldError, InputValidationError, StaleRecordError
from shared.executions.services import Services
from shared.identity import policy
from shared.models import Caller, ExecutionRecord, ExecutionResult, ExecutionStatus, LogLine, utc_now
from shared.storage.keys import MAX_ATTEMPT as MAX_ATTEMPT  # the highest `?attempt=` the API accepts
from shared.storage.listing import TimeWindow as TimeWindow  # the created/started bounds of a list
from shared.storage.listing import form_id_problem as form_id_problem  # what makes `?form_id=` malformed

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_CANCEL_ATTEMPTS = 3


async def get_execution(
    services: Services, caller: Caller, execution_id: str, *, light: bool = False,
    check: Callable[[Caller, ExecutionRecord], None] = policy.check_sees_execution,
) -> ExecutionRecord:
    """The execution with this id in the caller's scope, or `ExecutionNotFoundError`. `light` reads only its scalar
    fields (status, attempt, lease, ...): enough to check that the caller may see it, without its input or output.
    `check` is the policy's rule for what the caller is about to do (read by default; cancel)."""
    record = await services.store.get(caller.scope, execution_id, light=light)
    if record is None:
        raise ExecutionNotFoundError(execution_id)
    check(caller, record)  # another user's execution answers as a missing one
    return record


def execution_to_api(caller: Caller, record: ExecutionRecord) -> dict[str, Any]:
    """`GET /api/workflows/executions/{id}`: the record, an inline script's `variables` for admins only."""
    body = record.to_api()
    if not policy.sees_debug_detail(caller):
        body.pop("variables", None)
    return body


DAG_NODE_STEP = "dag_node"  # the step type shared.dag.executor records for every node run


async def execution_detail(services: Services, caller: Caller, execution_id: str) -> dict[str, Any]:
    """`GET /api/workflows/executions/{id}`: the record, and for a DAG run `node_outputs` ({node id: output} of its
    top-level nodes that ran, from their stored steps — every attempt's, and a from_failed rerun's reused ones; a
    node that failed has None)."""
    record = await get_execution(services, caller, execution_id)
    body = execution_to_api(caller, record)
    metadata = services.registry.get(record.workflow_name)
    if metadata is None or "dag" in metadata.tags:  # unknown here: perhaps a stored DAG; else only DAGs have nodes
        if continues(record):  # a takeover, a wake-up or a from_failed rerun: its nodes' steps are spread out
            steps = await load_history(services.store, record)
        else:
            steps = await services.store.get_steps(execution_id, attempt=record.attempt)
        outputs = node_outputs(steps)
        if outputs or (metadata is not None and "dag" in metadata.tags):
            body["node_outputs"] = outputs
    return body


def node_outputs(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """{node id: output} of the top-level DAG nodes that ran (not skipped or cancelled), in execution order."""
    return {
        step["node_id"]: step.get("output_data")
        for step in steps
        if step.get("step_type") == DAG_NODE_STEP and not step.get("iteration")
        and step.get("status") in ("Success", "Failed") and "node_id" in step
    }


async def execution_detail_after_change(
    services: Services, caller: Caller, execution_id: str, wait: float
) -> dict[str, Any]:
    """`GET /api/workflows/executions/{id}?wait=N`: the record once it changed from what this request first read
    (its ETag), or after `wait` s; at once when it is finished or `wait` is 0. Waiting costs this process one light
    read per interval for the execution, however many requests wait on it (shared.executions.watch)."""
    if wait > 0:
        seen = await get_execution(services, caller, execution_id, light=True)
        if not seen.status.is_terminal:
            await services.watcher.record_change(seen, wait)
    return await execution_detail(services, caller, execution_id)


async def visible_attempt(services: Services, caller: Caller, execution_id: str, attempt: int | None) -> int:
    """The attempt whose logs or steps to show: the latest unless one is asked for; 422 for one that never ran."""
    return (await _shown_attempt(services, caller, execution_id, attempt))[0]


async def _shown_attempt(
    services: Services, caller: Caller, execution_id: str, attempt: int | None
) -> tuple[int, ExecutionRecord]:
    """`visible_attempt`, and the light record it was read from."""
    record = await get_execution(services, caller, execution_id, light=True)
    if attempt is None:
        return record.attempt, record
    if attempt > record.attempt:
        raise InputValidationError(
            [FieldError("attempt", f"must be between 1 and {record.attempt}, the attempts this execution has had")],
            "Invalid query parameters",
        )
    return attempt, record


async def list_executions(
    services: Services, caller: Caller,
    *,
    workflow: str | None,
    status: str | None,
    limit: int,
    offset: int,
    continuation_token: str | None,
    form_id: str | None = None,
    submitted_by: str | None = None,
    window: TimeWindow | None = None,
    trigger_kind: str | None = None,
    error_text: str | None = None,
) -> tuple[list[ExecutionRecord], str | None]:
    """Newest first, filtered by the storage service (workflow, status, the form a submission came from, who
    submitted it, created and started between two times, the trigger's kind, and for a user who is no admin its own
    executions only) and `error_text` on bounded pages (shared.storage.listing.list_page); `continuation_token`
    continues where a page ended."""
    own = policy.execution_owner_filter(caller)
    if own is not None and submitted_by is not None and submitted_by != own:
        return [], None  # a user who is no admin sees its own executions only
    return await services.store.list_executions(
        caller.scope, workflow=workflow, status=status, form_id=form_id, limit=limit, offset=offset,
        continuation_token=continuation_token, caller_id=own or submitted_by, window=window,
        trigger_kind=trigger_kind, error_text=error_text,
    )


@dataclass(frozen=True)
class LogQuery:
    """Filters of `GET .../logs`: minimum level, step, errors only (or none), a page size, `after` to tail, and
    the attempt (the latest when None)."""

    level: str | None = None
    step_name: str | None = None
    step_type: str | None = None
    has_error: bool | None = None
    limit: int | None = None
    after: int | None = None
    attempt: int | None = None
    q: str | None = None  # text in the line (case-insensitive), matched as the pages are read

    def matches(self, line: LogLine) -> bool:
        severity = LEVELS.get(line.level.upper(), 20)
        return (
            (self.level is None or severity >= LEVELS[self.level.upper()])
            and (self.step_name is None or line.step_name == self.step_name)
            and (self.step_type is None or line.step_type == self.step_type)
            and (self.has_error is None or (severity >= LEVELS["ERROR"]) == self.has_error)
            and (self.q is None or self.q.lower() in line.message.lower())
        )


async def get_execution_logs(
    services: Services, caller: Caller, execution_id: str, query: LogQuery | None = None, *, wait: float = 0.0
) -> tuple[int, list[LogLine]]:
    """The attempt shown and its log lines, in order, filtered; pages are read only until `limit` lines match.

    With `wait`, when no line matches yet and the attempt shown is the running one, wait up to `wait` s for one to be
    stored or the attempt to end (shared.executions.watch: one poll per interval per execution, however many wait)."""
    query = query or LogQuery()
    attempt, record, lines = await _read_logs(services, caller, execution_id, query)
    deadline = asyncio.get_running_loop().time() + wait
    seen = query.after or 0
    while not lines and attempt == record.attempt and not record.status.is_terminal:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        wake = await services.watcher.next_log_line(record, seen, remaining)
        if wake.sequence is None and not wake.ended:
            break  # timed out
        attempt, record, lines = await _read_logs(services, caller, execution_id, query)
        if wake.ended:
            break
        seen = max(seen, wake.sequence or 0)  # new lines that the filters drop: wait for lines after them
    return attempt, lines


async def _read_logs(
    services: Services, caller: Caller, execution_id: str, query: LogQuery
) -> tuple[int, ExecutionRecord, list[LogLine]]:
    attempt, record = await _shown_attempt(services, caller, execution_id, query.attempt)
    debug = policy.sees_debug_detail(caller)

    def keep(line: LogLine) -> bool:  # DEBUG lines are for admins (filtered before `limit` counts them)
        return query.matches(line) and (debug or not is_debug(line))

    lines = await services.store.get_logs(execution_id, after=query.after, attempt=attempt, keep=keep,
                                          limit=query.limit)
    return attempt, record, lines


def is_debug(line: LogLine) -> bool:
    return LEVELS.get(line.level.upper(), 20) < LEVELS["INFO"]


async def get_execution_steps(
    services: Services, caller: Caller, execution_id: str, attempt: int | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """The attempt shown (the latest unless asked for) and its steps, in order."""
    shown = await visible_attempt(services, caller, execution_id, attempt)
    return shown, await services.store.get_steps(execution_id, attempt=shown)


async def cancel_execution(services: Services, caller: Caller, execution_id: str) -> ExecutionRecord:
    """Pending -> Cancelled at once; Running -> Cancelling (its worker stops it); finished -> 409."""
    record = await get_execution(services, caller, execution_id, check=policy.check_may_cancel)
    for _ in range(_CANCEL_ATTEMPTS):
        if record.status.is_terminal:
            raise ConflictError(
                f"Execution '{execution_id}' already finished with status {record.status.value}.",
                details={"status": record.status.value},
            )
        try:
            return await request_cancel(services.store, record)
        except StaleRecordError:
            record = await get_execution(services, caller, execution_id, check=policy.check_may_cancel)
    raise ConflictError(f"Execution '{execution_id}' kept changing; try again.")


async def request_cancel(store: Any, record: ExecutionRecord) -> ExecutionRecord:
    """Ask an execution to stop (its caller's right to was checked): Pending ends Cancelled at once, Running goes
    to Cancelling and its worker stops it."""
    if record.status in (ExecutionStatus.PENDING, ExecutionStatus.WAITING):  # nobody runs it: Cancelled at once
        cancelled = record.finished(ExecutionStatus.CANCELLED, CANCELLED_BY_USER, "Cancelled", utc_now())
        cancelled.waiting = None
        return await store.finish(cancelled, logs=[], steps=[])
    if record.status is ExecutionStatus.CANCELLING:
        return record
    logging.getLogger("conduit.executions").info("cancel requested for running execution %s", record.id)
    return await store.update(record, status=ExecutionStatus.CANCELLING)


def result_to_api(result: ExecutionResult, caller: Caller | None) -> dict[str, Any]:
    """The body of a synchronous execute call (a form submit, a webhook endpoint, an inline script): DEBUG lines
    and an inline script's `variables` only for admins (shared.identity.policy.sees_debug_detail)."""
    debug = policy.sees_debug_detail(caller)
    body: dict[str, Any] = {
        "execution_id": result.execution_id,
        "status": result.status.value,
        "output_data": result.result,
        "error_message": result.error_message,
        "error_type": result.error_type,
        "duration_ms": result.duration_ms,
        "logs": [line.to_dict() for line in result.logs if debug or not is_debug(line)],
    }
    if result.variables is not None and debug:
        body["variables"] = result.variables
    return body
