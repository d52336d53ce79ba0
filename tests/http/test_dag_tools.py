"""The DAG tools over HTTP, served by a real devhost process: the JSON Schema, the node types, checking a
definition (200 / 422 with every problem / 403 for non-admins), a workflow's graph, and the example DAGs listed as
workflows."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devhost.routing import Router, make_route
from functions.http import TABLE
from shared.api.routes import ALL_METHODS
from shared.functions.discovery import PLATFORM_DIR
from tests.e2e.conftest import ConduitHost, ConduitHosts

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_EXAMPLE = json.loads((PLATFORM_DIR / "dags" / "email_to_slack.dag.json").read_text())


@pytest.fixture(scope="module")
async def host(tmp_path_factory: pytest.TempPathFactory, storage_connection_string: str) -> AsyncIterator[ConduitHost]:
    hosts = ConduitHosts(tmp_path_factory.mktemp("dag-tools"), storage_connection_string)
    try:
        yield await hosts.start()
    finally:
        await hosts.stop_all()


@pytest.fixture
def admin(host: ConduitHost) -> httpx.AsyncClient:
    return host.client


@pytest.fixture(scope="module")
async def org_key(host: ConduitHost) -> str:
    """An API key of an organization: a caller that is no admin."""
    org = f"dag-{uuid.uuid4().hex[:8]}"
    made = await host.client.post("/api/organizations", json={"id": org, "name": org.upper()})
    assert made.status_code == 201, made.text
    key = await host.client.post("/api/keys", json={"name": "dag tools", "org_id": org})
    assert key.status_code == 201, key.text
    return str(key.json()["secret"])


async def test_schema_is_the_committed_file_for_any_caller_and_401_without_one(
    host: ConduitHost, org_key: str
) -> None:
    # When a non-admin caller asks for the schema / Then it is the file in the repository
    async with httpx.AsyncClient(base_url=host.base_url, headers={"x-api-key": org_key}) as caller:
        response = await caller.get("/api/dags/schema")
    assert response.status_code == 200
    assert response.json() == json.loads((REPO_ROOT / "schemas" / "dag.schema.json").read_text())
    # And without credentials it is refused
    async with httpx.AsyncClient(base_url=host.base_url) as anonymous:
        assert (await anonymous.get("/api/dags/schema")).status_code == 401


async def test_node_types_list_every_handler_with_its_config_schema(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/api/dags/node-types")
    assert response.status_code == 200
    by_type = {item["type"]: item for item in response.json()["items"]}
    assert set(by_type) == {"trigger", "action", "http_request", "transform", "gateway_if", "gateway_switch",
                            "parallel", "join", "loop_foreach", "loop_while", "wait_for_event", "delay"}
    assert by_type["gateway_if"]["expression_fields"] == ["condition"]
    assert by_type["wait_for_event"]["config_schema"]["required"] == ["event"]
    assert "max_iterations" in by_type["loop_while"]["config_schema"]["required"]


async def test_validate_answers_valid_for_the_seed_example(admin: httpx.AsyncClient) -> None:
    # Given the DAG seed's example (its action resolves to the registered stand-in slack_send_message)
    definition = SEED_EXAMPLE | {"name": "seed_copy"}
    # When an admin checks it / Then it is valid
    response = await admin.post("/api/dags/validate", json=definition)
    assert (response.status_code, response.json()) == (200, {"valid": True})


async def test_validate_answers_422_with_every_problem(admin: httpx.AsyncClient) -> None:
    # Given a definition with an unknown action, a cycle and a template reading a node that is not upstream
    definition = {"name": "broken", "nodes": [
        {"id": "a", "type": "action", "data": {"workflow": "no_such_workflow"}},
        {"id": "b", "type": "transform", "data": {"value": "{{ nodes.c.output }}"}},
        {"id": "c", "type": "transform", "data": {"value": 1}}],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}, {"source": "c", "target": "b"}]}
    # When an admin checks it
    response = await admin.post("/api/dags/validate", json=definition)
    # Then it is a 422 naming every problem with its field and code
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "dag_invalid"
    problems = {(d["code"], d["field"]) for d in error["details"]}
    assert {("unknown_action", "nodes.a.data.workflow"), ("cycle", "nodes.b")} <= problems
    # And a body that is not JSON is a 400
    assert (await admin.post("/api/dags/validate", content=b"{nope")).status_code == 400


async def test_validate_is_for_admins(host: ConduitHost, org_key: str) -> None:
    async with httpx.AsyncClient(base_url=host.base_url, headers={"x-api-key": org_key}) as caller:
        response = await caller.post("/api/dags/validate", json=SEED_EXAMPLE)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


async def test_graph_of_a_dag_of_a_python_workflow_and_of_an_unknown_name(admin: httpx.AsyncClient) -> None:
    # When the seed example's graph is asked for / Then its nodes, edges and Mermaid drawing come back
    dag = (await admin.get("/api/workflows/email_to_slack/graph")).json()
    assert dag["kind"] == "dag" and [n["id"] for n in dag["nodes"]] == ["trigger_1", "action_1"]
    assert dag["edges"] == [{"source": "trigger_1", "target": "action_1", "on": "success"}]
    assert dag["mermaid"].startswith("flowchart TD") and "n_trigger_1 --> n_action_1" in dag["mermaid"]
    # And a Python workflow is one node of type python
    python = (await admin.get("/api/workflows/greet/graph")).json()
    assert python["kind"] == "python" and [(n["id"], n["type"]) for n in python["nodes"]] == [("greet", "python")]
    assert python["edges"] == []
    # And an unknown name is the usual 404
    missing = await admin.get("/api/workflows/no_such_workflow/graph")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "workflow_not_found"


async def test_example_dags_are_listed_as_workflows_tagged_dag_with_no_load_error(admin: httpx.AsyncClient) -> None:
    listed = {item["name"]: item for item in (await admin.get("/api/workflows")).json()["items"]}
    for name in ("email_to_slack", "ticket_triage", "text_report"):
        assert listed[name]["tags"] == ["dag", "workflow"] and listed[name]["source"] == "platform"
    assert [p["name"] for p in listed["text_report"]["parameters"]] == ["texts", "top"]
    assert (await admin.get("/api/health")).json()["load_errors"] == []


def test_literal_dag_routes_win_over_a_dags_name_route() -> None:
    # Given the route table plus the stored-DAG library's GET dags/{name}, declared before the literal routes
    paths = ["dags/{name}", *TABLE.by_path()]
    router = Router([make_route(path, ALL_METHODS, path) for path in paths])
    # When devhost resolves the literal paths / Then the literal routes win, as in ASP.NET routing
    for path in ("dags/schema", "dags/node-types"):
        found = router.lookup("GET", f"/{path}")
        assert found is not None and found.route.target == path
    named = router.lookup("GET", "/dags/my_dag")
    assert named is not None and named.route.target == "dags/{name}" and named.values == {"name": "my_dag"}
