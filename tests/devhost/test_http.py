"""devhost's HTTP trigger, end to end: one devhost process serving the test app, called with httpx."""

from __future__ import annotations

import socket
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
    app.env["DEVHOST_FRONT_END_TIMEOUT_SECONDS"] = "1"  # Azure's 230 s, lowered so a test can cross it
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
    # Then a value that is neither an int nor letters falls through to the app's catch-all
    assert client.get("/api/items/4a").json()["handler"] == "not_found"
    key = str(uuid.uuid4())
    assert client.get(f"/api/things/{key}").json() == {"key": key}
    assert client.get("/api/things/not-a-guid").status_code == 404


def test_min_regex_length_and_optional_constraints_route_like_the_host(client: httpx.Client) -> None:
    # Given numbers/{n:min(1)} and numbers/{n}: the constrained route wins where its constraint holds
    assert client.get("/api/numbers/5").json() == {"handler": "positive", "n": "5"}
    assert client.get("/api/numbers/0").json() == {"handler": "any_number", "n": "0"}
    assert client.get("/api/numbers/five").json() == {"handler": "any_number", "n": "five"}
    # Given codes/{code:regex(^[a-z]{{3}}-\d{{2}}$)}: a case-insensitive match of the whole pattern
    assert client.get("/api/codes/ABC-12").json() == {"handler": "code", "code": "ABC-12"}
    assert client.get("/api/codes/abc-1").json()["handler"] == "not_found"
    # Given names/{name:length(3,8)}/{kind:alpha?}
    assert client.get("/api/names/ada").json() == {"handler": "name", "name": "ada"}
    assert client.get("/api/names/ada/cat").json() == {"handler": "name", "name": "ada", "kind": "cat"}
    assert client.get("/api/names/al").json()["handler"] == "not_found"
    assert client.get("/api/names/ada/42").json()["handler"] == "not_found"


def test_optional_and_catch_all_parameters(client: httpx.Client) -> None:
    assert client.get("/api/optional").json() == {"value": None}
    assert client.get("/api/optional/7").json() == {"value": "7"}
    assert client.get("/api/files/a/b/c%20d.txt").json() == {"path": "a/b/c d.txt"}


def test_a_wrong_method_falls_through_to_the_next_route_as_methods_are_constraints(client: httpx.Client) -> None:
    # Given workflows/{name} for GET and DELETE, and the app's catch-all {*path} for every method
    # When the path is requested with another method
    response = client.patch("/api/workflows/greet")
    # Then devhost does not answer 405 itself: the request goes to the next matching route, the catch-all
    assert response.status_code == 404
    assert response.json() == {"handler": "not_found", "path": "workflows/greet", "method": "PATCH"}
    assert client.get("/api/no/such/route").json()["handler"] == "not_found"
    # And outside the routePrefix no route matches at all: the host's bare 404
    bare = client.get("/ping")
    assert (bare.status_code, bare.content) == (404, b"")


def test_a_route_declaring_every_method_beats_the_catch_all_and_answers_its_own_405(client: httpx.Client) -> None:
    assert client.get("/api/dispatch").json() == {"handler": "dispatch"}
    refused = client.post("/api/dispatch")
    assert (refused.status_code, refused.headers["Allow"]) == (405, "GET")
    assert refused.json() == {"error": "method_not_allowed"}


def raw_request(host: Devhost, request_line: str) -> bytes:
    """Everything the server sends back for one request on a fresh connection (closed after the reply)."""
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as conn:
        conn.sendall(f"{request_line}\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_head_reaches_only_a_function_that_lists_it_and_gets_headers_without_a_body(
    client: httpx.Client, host: Devhost
) -> None:
    # Given page for GET and HEAD
    # When it is requested with HEAD
    reply = raw_request(host, "HEAD /api/page HTTP/1.1")
    head, _, body = reply.partition(b"\r\n\r\n")
    # Then the function ran for HEAD, the headers are those of the GET (Content-Length of its body), no body is sent
    assert head.startswith(b"HTTP/1.1 200")
    assert b"X-Method: HEAD" in head
    assert b"Content-Length: 10" in head
    assert body == b""
    assert client.get("/api/page").text == "hello page"
    # And HEAD on a GET-only route is not a GET: it goes to the next route (here the app's catch-all), bodiless
    assert client.head("/api/ping").status_code == 404
    assert raw_request(host, "HEAD /api/ping HTTP/1.1").partition(b"\r\n\r\n")[2] == b""


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


def test_a_response_slower_than_the_front_end_limit_is_logged_as_a_warning(client: httpx.Client, host: Devhost) -> None:
    # Given the front-end limit lowered to 1 s (230 s on Azure)
    # When a function takes longer than that to answer
    response = client.get("/api/slow?seconds=2")
    # Then devhost still delivers its answer, and warns that Azure's front end would have cut the request
    assert response.text == "slept"
    assert "GET /api/slow (Functions.slow) has not answered within 1s. On Azure the front end ends" in host.log()
    # And a quick response is not reported
    client.get("/api/ping")
    assert "Functions.ping) has not answered" not in host.log()
