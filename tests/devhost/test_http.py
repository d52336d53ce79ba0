"""devhost's HTTP trigger, end to end: one devhost process serving the test app, called with httpx."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.devhost.conftest import Devhost, build_app, spawn_devhost


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, storage_connection_string: str) -> Iterator[Devhost]:
    base = tmp_path_factory.mktemp("http")
    app = build_app(base, storage_connection_string, FROM_FILE="file", BOTH="file")
    app.env["BOTH"] = "environment"
    instance = spawn_devhost(app, base / "devhost.log")
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def client(host: Devhost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url, timeout=30) as session:
        yield session


def test_literal_segment_wins_over_parameter(client: httpx.Client) -> None:
    # Given routes workflows/executions and workflows/{name}
    # When both shapes of path are requested
    literal = client.get("/api/workflows/executions")
    parameter = client.get("/api/workflows/greet")
    # Then the literal route takes its own path and the parameter route the rest
    assert literal.json() == {"handler": "list_executions"}
    assert parameter.json() == {"handler": "get_workflow", "name": "greet"}


def test_literal_segments_match_case_insensitively_and_ignore_a_trailing_slash(client: httpx.Client) -> None:
    assert client.get("/API/Workflows/Executions/").json() == {"handler": "list_executions"}


def test_constraints_pick_the_route_and_reject_what_fits_none(client: httpx.Client) -> None:
    # Given items/{id:int} and items/{slug:alpha}
    assert client.get("/api/items/42").json() == {"handler": "item_by_id", "id": "42"}
    assert client.get("/api/items/abc").json() == {"handler": "item_by_slug", "slug": "abc"}
    # Then a value that is neither an int nor letters matches no route
    assert client.get("/api/items/4a").status_code == 404
    key = str(uuid.uuid4())
    assert client.get(f"/api/things/{key}").json() == {"key": key}
    assert client.get("/api/things/not-a-guid").status_code == 404


def test_optional_and_catch_all_parameters(client: httpx.Client) -> None:
    assert client.get("/api/optional").json() == {"value": None}
    assert client.get("/api/optional/7").json() == {"value": "7"}
    assert client.get("/api/files/a/b/c%20d.txt").json() == {"path": "a/b/c d.txt"}


def test_unknown_path_is_404_and_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    assert client.get("/api/no/such/route").status_code == 404
    assert client.get("/ping").status_code == 404  # routes live under the routePrefix
    # When a route exists for the path but not for the method
    response = client.patch("/api/workflows/greet")
    # Then 405 lists the methods that path does accept
    assert response.status_code == 405
    assert response.headers["Allow"] == "DELETE, GET"


def test_request_is_mapped_to_http_request(client: httpx.Client, host: Devhost) -> None:
    # Given a sync function that echoes what it received
    # When it is called with a query string, a header and a body
    response = client.post("/api/echo?a=1&b=two", content=b"payload", headers={"X-Test-Header": "hdr"})
    # Then the function saw the method, full URL, params, headers and body
    assert response.status_code == 200
    assert response.json() == {
        "method": "POST",
        "url": f"{host.base_url}/api/echo?a=1&b=two",
        "params": {"a": "1", "b": "two"},
        "header": "hdr",
        "body": "payload",
    }


def test_response_status_headers_and_mimetype_are_mapped_back(client: httpx.Client) -> None:
    response = client.put("/api/echo?status=202", content=b"{}")
    assert response.status_code == 202
    assert response.headers["X-Echo"] == "yes"
    assert response.headers["Content-Type"] == "application/json"
    html = client.get("/api/html")
    assert html.headers["Content-Type"] == "text/html; charset=iso-8859-1"
    assert html.text == "<p>hi</p>"
    assert client.get("/api/ping").headers["Content-Type"] == "text/plain; charset=utf-8"


def test_json_body_and_route_value_reach_a_sync_function(client: httpx.Client) -> None:
    response = client.post("/api/workflows/greet/execute", json={"input_data": {"name": "Ada"}})
    assert response.status_code == 201
    assert response.json() == {"handler": "execute", "name": "greet", "input": {"input_data": {"name": "Ada"}}}


def test_none_is_204_and_an_exception_is_500(client: httpx.Client, host: Devhost) -> None:
    nothing = client.post("/api/nothing")
    assert nothing.status_code == 204
    assert nothing.content == b""
    # When a function raises
    boom = client.get("/api/boom")
    # Then the caller gets 500 and the host logs the exception
    assert boom.status_code == 500
    assert "boom on purpose" in host.log()
    assert "Exception while executing function: Functions.boom" in host.log()


def test_context_parameter_gets_the_invocation(client: httpx.Client) -> None:
    first, second = client.get("/api/whoami").json(), client.get("/api/whoami").json()
    assert first["function_name"] == "whoami"
    assert first["invocation_id"] != second["invocation_id"]


def test_environment_variable_wins_over_local_settings(client: httpx.Client) -> None:
    # Given BOTH set in local.settings.json and in the environment, FROM_FILE only in the file
    assert client.get("/api/settings/BOTH").json() == {"value": "environment"}
    assert client.get("/api/settings/FROM_FILE").json() == {"value": "file"}


def test_sync_functions_run_in_the_thread_pool(client: httpx.Client) -> None:
    assert client.get("/api/thread").json()["thread"].startswith("devhost-sync")
