"""HTTP: DAGs created through the API (admins manage; whoever may run one reads it), and running an unregistered
DAG (`POST /api/dags/execute`, the DAG seed's API)."""

from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from shared.api.http import json_object, json_response
from shared.api.routes import ApiCall, Route
from shared.dag.library import DagView
from shared.executions.queries import result_to_api
from shared.executions.service import run_now
from shared.runtime import get_dags, get_runtime


class DagQuery(BaseModel):
    """Query of `GET /api/dags/{name}`: `?version=N` reads one stored version (they stay after changes)."""

    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(default=None, ge=1)


class DagExecuteBody(BaseModel):
    """Body of `POST /api/dags/execute`: the definition to run and its event payload (the run's inputs)."""

    model_config = ConfigDict(extra="forbid")
    dag: dict[str, Any]  # checked as a whole by the DAG validator: every problem at once, at `dag.<where>`
    event_payload: dict[str, Any] = Field(default_factory=dict)


def _definition(call: ApiCall) -> dict[str, Any]:
    """The body as JSON: the DAG validator reads it whole, so that one 422 names every problem (shape and graph)."""
    return json_object(call.request.get_body() or b"")


def _dag(view: DagView, status: int = 200) -> func.HttpResponse:
    headers = {"ETag": view.etag} if view.etag else {}
    if status == 201:
        headers["Location"] = f"/api/dags/{view.name}"
    return json_response(view.to_api(), status, headers=headers)


async def create_dag(call: ApiCall) -> func.HttpResponse:
    """Store a new DAG in the scope the admin acts in: 201 with version 1 and its ETag."""
    library = await get_dags()
    return _dag(await library.create(call.known_caller, _definition(call)), 201)


async def list_dags(call: ApiCall) -> func.HttpResponse:
    """The DAGs the caller may run: file DAGs, its organization's and the global stored ones."""
    library = await get_dags()
    views = await library.list(call.known_caller)
    return json_response({"items": [view.to_api(with_definition=False) for view in views]})


async def get_dag(call: ApiCall) -> func.HttpResponse:
    """One DAG with its definition, version, source and authors (`?version=N` for an older stored version)."""
    query: DagQuery = call.query
    library = await get_dags()
    return _dag(await library.get(call.known_caller, call.path("name"), query.version))


async def update_dag(call: ApiCall) -> func.HttpResponse:
    """Store the next version of a DAG (`If-Match`: only if the ETag still names the current one, else 412)."""
    library = await get_dags()
    if_match = call.request.headers.get("if-match")
    return _dag(await library.update(call.known_caller, call.path("name"), _definition(call), if_match))


async def delete_dag(call: ApiCall) -> func.HttpResponse:
    """Delete a DAG: it no longer runs; executions already started finish on their version."""
    library = await get_dags()
    await library.delete(call.known_caller, call.path("name"), call.request.headers.get("if-match"))
    return func.HttpResponse(status_code=204)


async def execute_dag(call: ApiCall) -> func.HttpResponse:
    """Validate a definition and run it as it is (registered nowhere): 200 with the result, or 202 with its
    Location when it is still running after CONDUIT_SYNC_WAIT_SECONDS (it goes on in this process)."""
    body: DagExecuteBody = call.body
    library = await get_dags()
    request = library.adhoc_request(call.known_caller, body.dag, body.event_payload)
    submission = await run_now(await get_runtime(), request)
    if submission.result is not None:
        return json_response(result_to_api(submission.result, call.known_caller))
    answer = {"execution_id": submission.execution_id, "status": submission.status.value}
    return json_response(answer, 202, headers={"Location": f"/api/workflows/executions/{submission.execution_id}"})


routes = [
    Route("GET", "dags", list_dags),
    Route("POST", "dags", create_dag, access="org_admin", status=201),
    Route("POST", "dags/execute", execute_dag, access="org_admin", body=DagExecuteBody),
    Route("GET", "dags/{name}", get_dag, query=DagQuery),
    Route("PUT", "dags/{name}", update_dag, access="org_admin"),
    Route("DELETE", "dags/{name}", delete_dag, access="org_admin", status=204),
]
