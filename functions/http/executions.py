"""HTTP: read an execution and its logs."""

import azure.functions as func

from shared.executions import get_execution, get_execution_logs
from shared.http import endpoint, json_response
from shared.models import Caller

bp = func.Blueprint()


async def get_execution_by_id(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """One execution of the caller's scope."""
    record = await get_execution(caller, req.route_params["execution_id"])
    return json_response(record.to_api())


async def get_execution_log_lines(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """The captured log lines of one execution, in order."""
    lines = await get_execution_logs(caller, req.route_params["execution_id"])
    return json_response({"items": [line.to_dict() for line in lines]})


bp.route(route="workflows/executions/{execution_id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(
    endpoint(get_execution_by_id)
)
bp.route(route="workflows/executions/{execution_id}/logs", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(
    endpoint(get_execution_log_lines)
)
