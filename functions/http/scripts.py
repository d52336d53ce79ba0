"""HTTP: run an inline (base64) Python script. Platform admins only."""

from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from shared.api.http import json_response
from shared.api.routes import ApiCall, Route
from shared.executions.queries import result_to_api
from shared.executions.service import run_now
from shared.models import ExecutionRequest
from shared.runtime import get_runtime


class ScriptBody(BaseModel):
    """Body of `POST /api/scripts/execute`."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1)
    name: str = Field(default="script", min_length=1, max_length=128)
    input_data: dict[str, Any] = Field(default_factory=dict)


async def execute_script(call: ApiCall) -> func.HttpResponse:
    """Run the script now; its variables come back in `variables`, `result` (if set) in `output_data`. Like a sync
    workflow, a script still running after CONDUIT_SYNC_WAIT_SECONDS is answered 202 with its id and runs on."""
    body: ScriptBody = call.body
    request = ExecutionRequest(
        caller=call.known_caller, code=body.code, name=body.name, parameters=body.input_data, trigger={"kind": "script"}
    )
    submission = await run_now(await get_runtime(), request)
    if submission.result is not None:
        return json_response(result_to_api(submission.result, call.known_caller))
    answer = {"execution_id": submission.execution_id, "status": submission.status.value}
    return json_response(answer, 202, headers={"Location": f"/api/workflows/executions/{submission.execution_id}"})


routes = [Route("POST", "scripts/execute", execute_script, access="admin", body=ScriptBody)]
