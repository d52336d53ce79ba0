"""HTTP: list workflows and execute one."""

from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from shared.engine import execute
from shared.executions import result_to_api
from shared.http import endpoint, json_response, read_body
from shared.models import Caller, ExecutionRequest
from shared.runtime import get_runtime

bp = func.Blueprint()


class ExecuteBody(BaseModel):
    """Body of `POST /api/workflows/{name}/execute`."""

    model_config = ConfigDict(extra="forbid")
    input_data: dict[str, Any] = Field(default_factory=dict)


async def list_workflows(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Every registered workflow with its parameters."""
    runtime = await get_runtime()
    return json_response({"items": [m.to_api() for m in runtime.registry.list("workflow")]})


async def execute_workflow(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Run a workflow now and answer with its result; a failed workflow still answers 200 with its status."""
    body = read_body(req, ExecuteBody)
    request = ExecutionRequest(
        caller=caller,
        name=req.route_params["name"],
        parameters=body.input_data,
        trigger={"kind": "http"},
    )
    result = await execute(request)
    return json_response(result_to_api(result))


bp.route(route="workflows", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(endpoint(list_workflows))
bp.route(route="workflows/{name}/execute", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)(
    endpoint(execute_workflow)
)
