"""HTTP: list workflows and execute one (sync: run now; async: record Pending, queue, answer 202)."""

from typing import Any, Literal

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.errors import FieldError, ForbiddenError, InputValidationError, WorkflowNotFoundError
from shared.execution_service import WorkflowCall, submit
from shared.executions import result_to_api
from shared.http import endpoint, json_response, read_body
from shared.models import Caller
from shared.runtime import get_runtime

bp = func.Blueprint()


class ExecuteBody(BaseModel):
    """Body of `POST /api/workflows/{name}/execute`."""

    model_config = ConfigDict(extra="forbid")
    input_data: dict[str, Any] = Field(default_factory=dict)
    mode: Literal["sync", "async"] | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=256)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


async def list_workflows(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Every registered workflow with its parameters."""
    runtime = await get_runtime()
    return json_response({"items": [m.to_api() for m in runtime.registry.list("workflow")]})


async def execute_workflow(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    """Sync: run now, 200 with the result (a failed workflow is still 200). Async: 202 with a Location."""
    body = read_body(req, ExecuteBody)
    name = req.route_params["name"]
    runtime = await get_runtime()
    metadata = runtime.registry.get(name)
    if metadata is None or not metadata.is_workflow:
        raise WorkflowNotFoundError(name)
    wait = (body.mode or metadata.execution_mode) == "sync"
    if wait and body.idempotency_key:
        raise InputValidationError([FieldError("idempotency_key", "applies to async executions only")])
    submission = await submit(
        WorkflowCall(workflow_name=name, input_data=body.input_data, caller=caller, wait=wait,
                     trigger_payload=_trigger(body, caller), idempotency_key=body.idempotency_key)
    )
    if submission.result is not None:
        return json_response(result_to_api(submission.result))
    location = f"/api/workflows/executions/{submission.execution_id}"
    answer = {"execution_id": submission.execution_id, "status": submission.status.value}
    if submission.duplicate:
        answer["duplicate"] = True
    return json_response(answer, 202, headers={"Location": location})


def _trigger(body: ExecuteBody, caller: Caller) -> dict[str, Any]:
    """The trigger stored with the execution; an admin's `log_level` rides in it, so a queued run gets it too.

    Choosing the level is for platform admins only: DEBUG lines can hold what a workflow's users should not see.
    Today every caller is the admin key (shared.auth), so this check is where a user caller will be refused.
    """
    if body.log_level is None:
        return {"kind": "http"}
    if not caller.is_platform_admin:
        raise ForbiddenError("Only platform admins may choose an execution's log_level.")
    return {"kind": "http", "log_level": body.log_level}


bp.route(route="workflows", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(endpoint(list_workflows))
bp.route(route="workflows/{name}/execute", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)(
    endpoint(execute_workflow)
)
