"""The route table answers the same under every host: 405 with Allow, JSON 404, HEAD as GET, OPTIONS."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from functions.http import TABLE
from tests.http.conftest import ADMIN_KEY, Api


def _request(method: str, url: str, **route: str) -> func.HttpRequest:
    return func.HttpRequest(method, url, headers={"x-api-key": ADMIN_KEY}, route_params=route, body=b"")


async def test_a_wrong_method_is_405_with_allow_and_the_json_error(api: Api) -> None:
    # When a path that only lists is sent a DELETE
    response = await api.functions["list_workflows"](_request("DELETE", "http://localhost/api/workflows"))
    # Then the answer is 405, says which methods the path takes, in the usual error shape
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "method_not_allowed"
    assert error["details"] == {"method": "DELETE", "path": "/api/workflows", "allowed": ["GET", "HEAD", "OPTIONS"]}


async def test_an_unknown_path_under_api_is_a_json_404(api: Api) -> None:
    # When a path no route declares is asked for
    status, body = await api.call("route_not_found", "GET", "http://localhost/api/workflow", route={"path": "workflow"})
    # Then the answer is a JSON 404 naming the method and path
    assert status == 404
    assert body["error"]["code"] == "route_not_found"
    assert body["error"]["message"] == "No API route matches GET /api/workflow."


async def test_head_on_a_get_route_answers_as_get_without_a_body(api: Api) -> None:
    # Given what GET answers
    get = await api.functions["list_workflows"](_request("GET", "http://localhost/api/workflows"))
    # When the same path is asked with HEAD
    head = await api.functions["list_workflows"](_request("HEAD", "http://localhost/api/workflows"))
    # Then the status and content type are the GET's, and there is no body
    assert head.status_code == get.status_code == 200
    assert head.mimetype == get.mimetype == "application/json"
    assert head.get_body() == b"" and get.get_body() != b""


async def test_head_keeps_the_error_status_of_get(api: Api) -> None:
    # When HEAD asks for an execution that does not exist, without a key
    url = "http://localhost/api/workflows/executions/nope"
    request = func.HttpRequest("HEAD", url, route_params={"execution_id": "nope"}, body=b"")
    response = await api.functions["get_execution_by_id"](request)
    # Then it is the GET's 401, without a body
    assert response.status_code == 401 and response.get_body() == b""


async def test_options_lists_the_methods_of_a_path(api: Api) -> None:
    response = await api.functions["execute_workflow"](
        _request("OPTIONS", "http://localhost/api/workflows/x/execute", name="x")
    )
    assert response.status_code == 204 and response.headers["Allow"] == "OPTIONS, POST"


async def test_admin_routes_check_the_caller_before_reading_the_body(api: Api) -> None:
    # Given the script route, which the table declares for platform admins only, with a body model
    route = next(r for r in TABLE.routes if r.path == "scripts/execute")
    assert route.access == "admin" and route.body is not None
    # When it is called with a wrong key and a body that is not even JSON
    status, body = await api.call(
        "execute_script", "POST", "http://localhost/api/scripts/execute", raw=b"{not json", key="wrong-key"
    )
    # Then the caller is refused first (401), before the body is read (which would be a 400)
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_every_path_is_one_function_plus_the_catch_all(app_functions) -> None:
    # Given the app's functions (the v2 model refuses two with one name when it indexes them)
    # Then each declared path is one function, named for its first route, plus the catch-all
    paths = TABLE.by_path()
    http_functions = {name for name in app_functions if name in {r.name for r in TABLE.routes} | {"route_not_found"}}
    assert len(http_functions) == len(paths) + 1


def test_a_route_declared_twice_is_refused() -> None:
    from shared.api.routes import Route, RouteTable

    async def handler(call):  # pragma: no cover - never called
        raise AssertionError

    with pytest.raises(ValueError, match="declared twice"):
        RouteTable([Route("GET", "x", handler), Route("GET", "x", handler)])


async def test_query_parameters_are_validated_with_plain_messages(api: Api) -> None:
    # When a listing is asked for with several bad parameters
    status, body = await api.call(
        "list_execution_page",
        "GET",
        "http://localhost/api/workflows/executions",
        params={"limit": "0", "offset": "x", "status_filter": "Done"},
    )
    # Then one 422 names every one of them and what it must be
    assert status == 422
    fields = {d["field"]: d["message"] for d in body["error"]["details"]}
    assert fields["limit"] == "must be between 1 and 100"
    assert fields["offset"] == "must be an integer"
    assert fields["status_filter"].startswith("must be one of")
