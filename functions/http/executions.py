"""HTTP: list executions, read one with its logs and steps, cancel one, rerun one, deliver an event to one; read or
cancel many at once."""

from typing import Any, Literal

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from shared.api.http import json_response, json_value
from shared.api.routes import ApiCall, Route
from shared.errors import FieldError, InputValidationError
from shared.executions.bulk import ActiveFilter, cancel_many, outcome_counts, select_active, summaries
from shared.executions.durable import deliver_event, rerun
from shared.executions.queries import (
    MAX_ATTEMPT,
    LogQuery,
    TimeWindow,
    cancel_execution,
    execution_detail_after_change,
    form_id_problem,
    get_execution_logs,
    get_execution_steps,
    list_executions,
)
from shared.executions.retention import delete_execution
from shared.executions.watch import MAX_WAIT_SECONDS
from shared.models import ExecutionStatus
from shared.runtime import get_runtime

LevelName = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ListQuery(BaseModel):
    """`GET /api/workflows/executions`: newest first, filtered, paged."""

    workflow_id: str | None = None
    status_filter: ExecutionStatus | None = None
    form_id: str | None = None
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=10_000)
    continuation_token: str | None = None
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None
    started_after: AwareDatetime | None = None
    started_before: AwareDatetime | None = None
    caller: str | None = Field(None, min_length=1, max_length=300)  # who submitted it: `user:alice`, `api_key:...`
    trigger: str | None = Field(None, min_length=1, max_length=128)  # the trigger's kind: http, schedule, form, ...
    q: str | None = Field(None, min_length=1, max_length=200)  # text in the error message (case-insensitive)

    @field_validator("form_id")
    @classmethod
    def _form_id(cls, value: str | None) -> str | None:
        problem = form_id_problem(value) if value is not None else None
        if problem:  # reported with the other parameters' problems, in one 422
            raise PydanticCustomError("form_id", problem)
        return value


WAIT = Field(0.0, ge=0, le=MAX_WAIT_SECONDS, description="Long poll: answer once something changed, or after this "
             "many seconds (0, the default, answers at once)")


class ExecutionQuery(BaseModel):
    """`GET .../executions/{id}`: `wait` for the record to change (a long poll)."""

    wait: float = WAIT


class LogsQuery(BaseModel):
    """`GET .../logs`: filters, a tail position (`after`), an earlier attempt, and `wait` for new lines."""

    level: LevelName | None = None
    step_name: str | None = None
    step_type: str | None = None
    has_error: bool | None = None
    limit: int | None = Field(None, ge=1, le=1000)
    after: int | None = Field(None, ge=0, le=10**9)
    attempt: int | None = Field(None, ge=1, le=MAX_ATTEMPT)
    q: str | None = Field(None, min_length=1, max_length=200)  # text in the line, case-insensitive
    wait: float = WAIT

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class StepsQuery(BaseModel):
    """`GET .../steps`: an earlier attempt's steps."""

    attempt: int | None = Field(None, ge=1, le=MAX_ATTEMPT)


async def list_execution_page(call: ApiCall) -> func.HttpResponse:
    """Newest first: `?workflow_id=&status_filter=&form_id=&limit=&offset=&continuation_token=`."""
    query: ListQuery = call.query
    items, token = await list_executions(
        await get_runtime(),
        call.known_caller,
        workflow=query.workflow_id,
        status=query.status_filter.value if query.status_filter else None,
        submitted_by=query.caller, trigger_kind=query.trigger, error_text=query.q,
        window=TimeWindow(query.created_after, query.created_before, query.started_after, query.started_before),
        form_id=query.form_id,
        limit=query.limit,
        offset=query.offset,
        continuation_token=query.continuation_token,
    )
    return json_response({"items": [record.to_list_item() for record in items], "continuation_token": token})


async def get_execution_by_id(call: ApiCall) -> func.HttpResponse:
    """One execution of the caller's scope; `?wait=N` (0..25 s) answers once it changed, or after N s."""
    query: ExecutionQuery = call.query
    body = await execution_detail_after_change(await get_runtime(), call.known_caller, call.path("execution_id"),
                                               query.wait)
    return json_response(body)


async def get_execution_log_lines(call: ApiCall) -> func.HttpResponse:
    """Log lines of the latest attempt in order: `?level=&step_name=&step_type=&has_error=&limit=&after=&attempt=
    &wait=` (`after` tails a run, `attempt` shows an earlier attempt of a run that was taken over, `wait` holds the
    request up to that many seconds until a line comes)."""
    params: LogsQuery = call.query
    query = LogQuery(**params.model_dump(exclude={"wait"}))
    attempt, lines = await get_execution_logs(await get_runtime(), call.known_caller, call.path("execution_id"), query,
                                              wait=params.wait)
    last = lines[-1].sequence if lines else query.after
    return json_response({"items": [line.to_dict() for line in lines], "last_sequence": last, "attempt": attempt})


async def get_execution_step_records(call: ApiCall) -> func.HttpResponse:
    """Steps from `context.step(...)` and every `context.http` call, in the order they started: those of the latest
    attempt, or of `?attempt=N`."""
    runtime, wanted = await get_runtime(), call.query.attempt
    attempt, steps = await get_execution_steps(runtime, call.known_caller, call.path("execution_id"), wanted)
    return json_response({"items": steps, "attempt": attempt})


async def cancel_execution_by_id(call: ApiCall) -> func.HttpResponse:
    """Pending -> Cancelled now; Running -> Cancelling (stopped within about a second); finished -> 409."""
    record = await cancel_execution(await get_runtime(), call.known_caller, call.path("execution_id"))
    status = 200 if record.status.is_terminal else 202
    return json_response({"execution_id": record.id, "status": record.status.value}, status)


class RerunQuery(BaseModel):
    """`POST .../rerun`: `from_failed=true` resumes a DAG execution at its failed node."""

    from_failed: bool = False


async def rerun_execution_by_id(call: ApiCall) -> func.HttpResponse:
    """Run a finished execution again with the same input, as a new queued execution linked by `rerun_of`;
    `?from_failed=true` reuses a DAG execution's successful nodes and starts at the one that failed."""
    query: RerunQuery = call.query
    submission = await rerun(await get_runtime(), call.known_caller, call.path("execution_id"),
                             from_failed=query.from_failed)
    body = {"execution_id": submission.execution_id, "status": submission.status.value,
            "rerun_of": call.path("execution_id"), "from_failed": query.from_failed}
    return json_response(body, 202, headers={"Location": f"/api/workflows/executions/{submission.execution_id}"})


async def deliver_execution_event(call: ApiCall) -> func.HttpResponse:
    """Deliver event `name` to a Waiting execution (its JSON body is the `wait_for_event` node's output); the
    execution runs on through the queue, on any host. 409 when it does not wait for that event."""
    payload = json_value(call.request.get_body() or b"")
    execution_id = call.path("execution_id")
    body = await deliver_event(await get_runtime(), call.known_caller, execution_id, call.path("name"), payload)
    return json_response(body, 202, headers={"Location": f"/api/workflows/executions/{execution_id}"})


async def delete_execution_by_id(call: ApiCall) -> func.HttpResponse:
    """Admins: delete a finished execution with its log lines, steps and stored values (204); 409 while it runs or
    waits."""
    await delete_execution(await get_runtime(), call.known_caller, call.path("execution_id"))
    return func.HttpResponse(status_code=204)


ExecutionIds = list[str]
MAX_BATCH = 100


class BatchBody(BaseModel):
    """`POST .../executions/batch`: 1..100 execution ids."""

    model_config = ConfigDict(extra="forbid")
    ids: ExecutionIds = Field(min_length=1, max_length=MAX_BATCH)


async def read_execution_batch(call: ApiCall) -> func.HttpResponse:
    """Summaries of up to 100 executions in the order asked; `{"id", "found": false}` for one that is missing or
    not the caller's to see."""
    body: BatchBody = call.body
    return json_response({"items": await summaries(await get_runtime(), call.known_caller, body.ids)})


CancellableStatus = Literal["Pending", "Running", "Waiting"]


class CancelFilter(BaseModel):
    """Which active executions to cancel: any of Pending, Running and Waiting unless `status` names one."""

    model_config = ConfigDict(extra="forbid")
    workflow_id: str | None = None
    status: CancellableStatus | None = None
    form_id: str | None = None

    @field_validator("form_id")
    @classmethod
    def _form_id(cls, value: str | None) -> str | None:
        problem = form_id_problem(value) if value is not None else None
        if problem:
            raise PydanticCustomError("form_id", problem)
        return value


class BulkCancelBody(BaseModel):
    """`POST .../executions/cancel`: `ids`, or a `filter` with a `limit` (and `dry_run` to only count)."""

    model_config = ConfigDict(extra="forbid")
    ids: ExecutionIds | None = Field(None, min_length=1, max_length=MAX_BATCH)
    filter: CancelFilter | None = None
    limit: int = Field(100, ge=1, le=500)
    dry_run: bool = False


async def cancel_execution_batch(call: ApiCall) -> func.HttpResponse:
    """Cancel executions by `ids`, or the caller's active ones a `filter` matches (at most `limit`; `dry_run` only
    counts them); each item says what became of it."""
    body: BulkCancelBody = call.body
    if (body.ids is None) == (body.filter is None):
        raise InputValidationError([FieldError("ids", "give either `ids` or `filter`, not both and not neither")],
                                   "Invalid request body")
    runtime, caller = await get_runtime(), call.known_caller
    answer: dict[str, object] = {}
    ids = body.ids
    if body.filter is not None:
        wanted = ActiveFilter(body.filter.workflow_id,
                              ExecutionStatus(body.filter.status) if body.filter.status else None,
                              body.filter.form_id)
        ids = await select_active(runtime, caller, wanted, body.limit)
        if body.dry_run:
            return json_response({"matched": len(ids), "limit": body.limit, "ids": ids})
        answer["matched"] = len(ids)
    items = await cancel_many(runtime, caller, ids or [])
    return json_response({"items": items, "counts": outcome_counts(items)} | answer)


routes = [
    Route("GET", "workflows/executions", list_execution_page, query=ListQuery),
    Route("GET", "workflows/executions/{execution_id}", get_execution_by_id, query=ExecutionQuery),
    Route("DELETE", "workflows/executions/{execution_id}", delete_execution_by_id, status=204),
    Route("GET", "workflows/executions/{execution_id}/logs", get_execution_log_lines, query=LogsQuery),
    Route("GET", "workflows/executions/{execution_id}/steps", get_execution_step_records, query=StepsQuery),
    Route("POST", "workflows/executions/batch", read_execution_batch, body=BatchBody),
    Route("POST", "workflows/executions/cancel", cancel_execution_batch, body=BulkCancelBody),
    Route("POST", "workflows/executions/{execution_id}/cancel", cancel_execution_by_id),
    Route("POST", "workflows/executions/{execution_id}/rerun", rerun_execution_by_id, query=RerunQuery, status=202),
    Route("POST", "workflows/executions/{execution_id}/events/{name}", deliver_execution_event, status=202),
]
