"""Conduit's HTTP API end to end: one real devhost process serving function_app.py, called over HTTP with httpx."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, ConduitHost, ConduitHosts


@pytest.fixture(scope="module")
async def host(conduit_hosts_module: ConduitHosts) -> ConduitHost:
    return await conduit_hosts_module.start()


@pytest.fixture
def client(host: ConduitHost) -> httpx.AsyncClient:
    return host.client


async def test_health_without_a_key_is_up_and_versions_and_with_it_the_details(
    host: ConduitHost, client: httpx.AsyncClient
) -> None:
    # Given a host serving Conduit with the e2e workspace
    # When health is asked without a key
    async with httpx.AsyncClient(base_url=host.base_url) as anonymous:
        response = await anonymous.get("/api/health")
    # Then it says only that it is up, and the versions
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and set(body) == {"status", "versions"}
    assert body["versions"]["conduit"] and body["versions"]["azure_functions"]
    # When an admin asks, storage is reachable, nothing failed to load, and the counts match what is listed
    details = (await client.get("/api/health")).json()
    assert details["status"] == "ok" and details["storage"]["reachable"] is True
    assert details["load_errors"] == []
    listed = (await client.get("/api/workflows")).json()["items"]
    assert details["workflows"] == len(listed) >= 12  # 5 platform examples + 7 e2e workflows
    assert details["data_providers"] >= 4  # time_zones, countries, cities, suggested_destinations


async def test_list_workflows_shows_workspace_and_platform_functions(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/workflows")
    assert response.status_code == 200
    by_name = {item["name"]: item for item in response.json()["items"]}
    assert {"noop", "echo", "sleepy", "greet"} <= set(by_name)
    assert by_name["echo"]["source"] == "workspace" and by_name["greet"]["source"] == "platform"
    assert by_name["noop"]["execution_mode"] == "sync" and by_name["noop"]["endpoint_enabled"] is True
    sleepy = by_name["sleepy"]
    assert (sleepy["execution_mode"], sleepy["timeout_seconds"]) == ("async", 30)
    assert [(p["name"], p["type"], p["required"]) for p in sleepy["parameters"]] == [("seconds", "float", True)]


async def test_execute_echo_answers_with_result_and_logs_and_stores_both(client: httpx.AsyncClient) -> None:
    # When echo runs over HTTP
    response = await client.post("/api/workflows/echo/execute", json={"input_data": {"message": "hi", "count": "2"}})
    # Then it answers 200 with its result (input coerced) and its log line
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "Success" and body["error_message"] is None
    assert body["output_data"] == {"message": "hi", "count": 2}
    assert [(line["level"], line["message"]) for line in body["logs"]] == [("INFO", "echo: hi")]
    # And the stored record and log lines read back over HTTP say the same
    record = await client.get(f"/api/workflows/executions/{body['execution_id']}")
    assert record.status_code == 200
    stored = record.json()
    assert (stored["id"], stored["workflow_id"], stored["status"]) == (body["execution_id"], "echo", "Success")
    assert stored["input_data"] == {"message": "hi", "count": "2"} and stored["output_data"] == body["output_data"]
    assert stored["trigger"] == {"kind": "http"} and stored["scope"] == "GLOBAL"
    logs = await client.get(f"/api/workflows/executions/{body['execution_id']}/logs")
    assert logs.status_code == 200
    assert [(line["sequence"], line["logger"], line["message"]) for line in logs.json()["items"]] == [
        (1, "workflow.echo", "echo: hi")
    ]


async def test_a_sync_def_workflow_returning_none_succeeds(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/workflows/noop/execute", json={})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["output_data"]) == ("Success", None)


async def test_missing_or_wrong_key_is_401(host: ConduitHost) -> None:
    async with httpx.AsyncClient(base_url=host.base_url) as anonymous:
        missing = await anonymous.get("/api/workflows")
        wrong = await anonymous.post(
            "/api/workflows/echo/execute", json={"input_data": {"message": "x"}}, headers={"x-api-key": "nope"}
        )
        bearer = await anonymous.get("/api/workflows", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert (wrong.status_code, wrong.json()["error"]["message"]) == (401, "Invalid API key.")
    assert bearer.status_code == 200


async def test_unknown_workflow_and_execution_are_404(client: httpx.AsyncClient) -> None:
    workflow = await client.post("/api/workflows/no_such_flow/execute", json={"input_data": {}})
    assert workflow.status_code == 404
    assert workflow.json()["error"]["code"] == "workflow_not_found"
    assert "no_such_flow" in workflow.json()["error"]["message"]
    execution = await client.get("/api/workflows/executions/00000000-0000-8000-8000-000000000000")
    assert (execution.status_code, execution.json()["error"]["code"]) == (404, "execution_not_found")


async def test_get_on_the_execute_route_is_405_with_allow(client: httpx.AsyncClient) -> None:
    # When the execute route is sent a GET through a real host
    response = await client.get("/api/workflows/echo/execute")
    # Then Conduit, not the host, answers: 405, Allow, and the JSON error shape
    assert response.status_code == 405
    assert response.headers["allow"] == "OPTIONS, POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_an_unknown_api_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    # When paths no route declares are asked for, one segment deep and several
    for path in ("/api/nothing-here", "/api/workflows/echo/execute/more", "/api/workflows/executions/x/y/z"):
        response = await client.post(path, json={})
        # Then each is a JSON 404 naming the path
        assert response.status_code == 404, path
        assert response.json()["error"] == {
            "code": "route_not_found",
            "message": f"No API route matches POST {path}.",
            "details": {"method": "POST", "path": path},
        }


async def test_declared_routes_win_over_the_catch_all(client: httpx.AsyncClient) -> None:
    # Given the catch-all route for unknown paths
    # Then every declared route is still reached: health, the listing and a record's 404 of its own
    assert (await client.get("/api/health")).status_code in (200, 503)
    assert (await client.get("/api/workflows")).status_code == 200
    missing = await client.get("/api/workflows/executions/none")
    assert missing.json()["error"]["code"] == "execution_not_found"


async def test_head_on_a_get_route_answers_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/api/workflows")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-type"].startswith("application/json")


async def test_invalid_input_is_422_naming_every_field(client: httpx.AsyncClient) -> None:
    # Given echo requires `message` and takes an int `count`
    response = await client.post("/api/workflows/echo/execute", json={"input_data": {"count": "many"}})
    # Then both problems are reported at once, per field
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {detail["field"] for detail in error["details"]} == {"message", "count"}
    # And a body with an unknown top-level field is rejected the same way
    extra = await client.post("/api/workflows/echo/execute", json={"input_data": {"message": "x"}, "colour": "red"})
    assert extra.status_code == 422
    assert extra.json()["error"]["details"] == [{"field": "colour", "message": "unknown field"}]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/workflows/echo/execute", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert "not valid JSON" in response.json()["error"]["message"]
