"""HTTP: list executions, read one with its logs and steps, cancel one."""

import azure.functions as func

from shared.executions import (
    LEVELS,
    MAX_ATTEMPT,
    LogQuery,
    cancel_execution,
    get_execution,
    get_execution_logs,
    get_execution_steps,
    list_executions,
)
from shared.http import QueryReader, endpoint, json_response
from shared.models import Caller, ExecutionStatus

bp = func.Blueprint()
_ANONYMOUS = func.AuthLevel.ANONYMOUS


async def list_execution_page(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Newest first: `?workflow_id=&status_filter=&limit=&offset=&continuation_token=`."""
    query = QueryReader(req)
    workflow = query.text("workflow_id")
    status = query.choice("status_filter", {s.value for s in ExecutionStatus})
    limit = query.integer("limit", 20, 1, 100) or 20
    offset = query.integer("offset", 0, 0, 10_000) or 0
    query.check()
    items, token = await list_executions(
        caller, workflow=workflow, status=status, limit=limit, offset=offset,
        continuation_token=query.text("continuation_token"),
    )
    return json_response({"items": [record.to_list_item() for record in items], "continuation_token": token})


async def get_execution_by_id(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """One execution of the caller's scope."""
    record = await get_execution(caller, req.route_params["execution_id"])
    return json_response(record.to_api())


async def get_execution_log_lines(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Log lines of the latest attempt in order: `?level=&step_name=&step_type=&has_error=&limit=&after=&attempt=`
    (`after` tails a run, `attempt` shows an earlier attempt of a run that was taken over)."""
    params = QueryReader(req)
    query = LogQuery(
        level=params.choice("level", set(LEVELS), case_insensitive=True),
        step_name=params.text("step_name"),
        step_type=params.text("step_type"),
        has_error=params.boolean("has_error"),
        limit=params.integer("limit", None, 1, 1000),
        after=params.integer("after", None, 0, 10**9),
        attempt=params.integer("attempt", None, 1, MAX_ATTEMPT),
    )
    params.check()
    attempt, lines = await get_execution_logs(caller, req.route_params["execution_id"], query)
    last = lines[-1].sequence if lines else query.after
    return json_response({"items": [line.to_dict() for line in lines], "last_sequence": last, "attempt": attempt})


async def get_execution_step_records(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Steps from `context.step(...)` and every `context.http` call, in the order they started: those of the latest
    attempt, or of `?attempt=N`."""
    params = QueryReader(req)
    wanted = params.integer("attempt", None, 1, MAX_ATTEMPT)
    params.check()
    attempt, steps = await get_execution_steps(caller, req.route_params["execution_id"], wanted)
    return json_response({"items": steps, "attempt": attempt})


async def cancel_execution_by_id(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Pending -> Cancelled now; Running -> Cancelling (stopped within about a second); finished -> 409."""
    record = await cancel_execution(caller, req.route_params["execution_id"])
    return json_response({"execution_id": record.id, "status": record.status.value},
                         200 if record.status.is_terminal else 202)


bp.route(route="workflows/executions", methods=["GET"], auth_level=_ANONYMOUS)(endpoint(list_execution_page))
bp.route(route="workflows/executions/{execution_id}", methods=["GET"], auth_level=_ANONYMOUS)(
    endpoint(get_execution_by_id)
)
bp.route(route="workflows/executions/{execution_id}/logs", methods=["GET"], auth_level=_ANONYMOUS)(
    endpoint(get_execution_log_lines)
)
bp.route(route="workflows/executions/{execution_id}/steps", methods=["GET"], auth_level=_ANONYMOUS)(
    endpoint(get_execution_step_records)
)
bp.route(route="workflows/executions/{execution_id}/cancel", methods=["POST"], auth_level=_ANONYMOUS)(
    endpoint(cancel_execution_by_id)
)
