"""HTTP: list workflows, execute one (sync: run now; async: record Pending, queue, answer 202), and a workflow's
execution stats."""

from typing import Any, Literal

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.api.http import json_response
from shared.api.routes import ApiCall, Route
from shared.api.submissions import submission_response
from shared.executions.service import WorkflowCall, submit
from shared.executions.stats import workflow_stats
from shared.identity import policy
from shared.runtime import get_runtime


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


async def list_workflows(call: ApiCall) -> func.HttpResponse:
    """Every registered workflow the caller may run, with its parameters."""
    runtime = await get_runtime()
    caller = call.known_caller
    listed = [m.to_api() for m in runtime.registry.list("workflow") if policy.may_list_function(caller, m.name)]
    return json_response({"items": listed})


async def execute_workflow(call: ApiCall) -> func.HttpResponse:
    """Sync: run now, 200 with the result (a failed workflow is still 200), or 202 Running with a Location when it
    runs longer than CONDUIT_SYNC_WAIT_SECONDS (it goes on). Async: 202 Pending with a Location."""
    body: ExecuteBody = call.body
    submission = await submit(
        await get_runtime(),
        WorkflowCall(
            workflow_name=call.path("name"),
            input_data=body.input_data,
            caller=call.known_caller,
            wait=None if body.mode is None else body.mode == "sync",
            trigger_payload={"kind": "http"},
            idempotency_key=body.idempotency_key,
            log_level=body.log_level,
        ),
    )
    return submission_response(submission, call.known_caller)


class StatsQuery(BaseModel):
    """`GET /api/workflows/{name}/stats`: the window starts at `since` (default: 24 hours ago)."""

    since: AwareDatetime | None = None


async def get_workflow_stats(call: ApiCall) -> func.HttpResponse:
    """Counts by status and p50/p95 durations of a workflow's executions created since `since` (at most 31 days
    back; the newest 10,000, `truncated` when there are more); a user who is no admin counts its own."""
    query: StatsQuery = call.query
    return json_response(await workflow_stats(await get_runtime(), call.known_caller, call.path("name"), query.since))


routes = [
    Route("GET", "workflows", list_workflows),
    Route("POST", "workflows/{name}/execute", execute_workflow, body=ExecuteBody),
    Route("GET", "workflows/{name}/stats", get_workflow_stats, query=StatsQuery),
]
