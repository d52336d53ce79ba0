"""HTTP: run an inline (base64) Python script. Platform admins only."""

from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from shared.engine import execute
from shared.errors import ForbiddenError
from shared.executions import result_to_api
from shared.http import endpoint, json_response, read_body
from shared.models import Caller, ExecutionRequest

bp = func.Blueprint()


class ScriptBody(BaseModel):
    """Body of `POST /api/scripts/execute`."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1)
    name: str = Field(default="script", min_length=1, max_length=128)
    input_data: dict[str, Any] = Field(default_factory=dict)


async def execute_script(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Run the script now; its variables come back in `variables`, `result` (if set) in `output_data`."""
    if not caller.is_platform_admin:
        raise ForbiddenError("Only platform admins may run inline scripts.")
    body = read_body(req, ScriptBody)
    request = ExecutionRequest(
        caller=caller, code=body.code, name=body.name, parameters=body.input_data, trigger={"kind": "script"}
    )
    return json_response(result_to_api(await execute(request)))


bp.route(route="scripts/execute", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)(endpoint(execute_script))
