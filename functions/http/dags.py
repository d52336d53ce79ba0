"""HTTP: the DAG format's tools (its JSON Schema, the node types, checking a definition) and a workflow's graph."""

import azure.functions as func

from shared.api.http import json_object, json_response
from shared.api.routes import ApiCall, Route
from shared.dag.graph_view import graph_view
from shared.dag.nodes import handlers
from shared.dag.schema import dag_schema
from shared.errors import WorkflowNotFoundError
from shared.identity import policy
from shared.runtime import get_dags, get_runtime


async def get_dag_schema(call: ApiCall) -> func.HttpResponse:
    """The JSON Schema of a DAG definition (the file schemas/dag.schema.json is the same)."""
    return json_response(dag_schema())


async def list_node_types(call: ApiCall) -> func.HttpResponse:
    """Every node type a DAG may use, with the JSON Schema of its `data`."""
    return json_response({"items": [handler.to_api() for handler in handlers()]})


async def validate_dag(call: ApiCall) -> func.HttpResponse:
    """Check a definition against the registered workflows: 200 `{"valid": true}`, or 422 naming every problem."""
    from shared.dag.validation import check_definition  # Jinja2 loads on first use: function_app imports quickly

    raw = json_object(call.request.get_body() or b"")
    runtime = await get_runtime()
    check_definition(raw, runtime.registry)
    return json_response({"valid": True})


async def get_workflow_graph(call: ApiCall) -> func.HttpResponse:
    """A workflow's nodes, edges and Mermaid drawing (a Python workflow is one node of type `python`)."""
    name = call.path("name")
    metadata = await (await get_dags()).workflow(call.known_caller, name)  # a stored DAG too
    if metadata is None or not policy.may_list_function(call.known_caller, name):
        raise WorkflowNotFoundError(name)
    return json_response(graph_view(metadata))


routes = [
    Route("GET", "dags/schema", get_dag_schema),
    Route("GET", "dags/node-types", list_node_types),
    Route("POST", "dags/validate", validate_dag, access="org_admin"),
    Route("GET", "workflows/{name}/graph", get_workflow_graph),
]
