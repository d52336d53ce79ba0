"""The `http_request` node against a real local HTTP server (http.server in a thread)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry
from shared.models import ExecutionRequest, ExecutionStatus
from tests.dag.support import edge, node, node_steps, register_dag

registry = FunctionRegistry()
engine = Engine(registry)
seen: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        if self.path.startswith("/missing"):
            payload, status, kind = b"no such user " + b"x" * 1000, 404, "text/plain"
        elif self.path.startswith("/text"):
            payload, status, kind = b"plain words", 200, "text/plain"
        else:
            payload = json.dumps({"path": self.path, "got": json.loads(body) if body else None}).encode()
            status, kind = 201, "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Server", "test")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def run(dag: str, **inputs: Any) -> Any:
    return engine.execute(ExecutionRequest(name=dag, parameters=inputs, transient=True))


async def test_a_json_post_gives_status_headers_and_parsed_body(server: str) -> None:
    # Given a DAG posting templated JSON with a query and a header
    register_dag(registry, "post_user", [node("call", "http_request", method="POST", url="{{ inputs.base }}/users",
                                              query={"team": "{{ inputs.team }}"}, headers={"X-Team": "t"},
                                              json={"name": "{{ inputs.name }}"})], [])
    seen.clear()
    # When it runs
    result = await run("post_user", base=server, team="blue", name="Ada")
    # Then the server got the request, with a derived Idempotency-Key, and the node's output is parsed JSON
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    assert result.result["status"] == 201 and result.result["headers"]["x-server"] == "test"
    assert result.result["body"] == {"path": "/users?team=blue", "got": {"name": "Ada"}}
    [request] = seen
    assert request["headers"]["X-Team"] == "t" and len(request["headers"]["Idempotency-Key"]) == 40


async def test_the_idempotency_key_is_stable_per_node_and_iteration(server: str) -> None:
    register_dag(registry, "keys", [node("each", "loop_foreach", items=[1, 2], body={"nodes": [
        node("get", "http_request", url=server + "/item/{{ item }}")]})], [])
    from shared.dag.nodes.work import idempotency_key

    seen.clear()
    result = await run("keys")
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    keys = {r["path"]: r["headers"]["Idempotency-Key"] for r in seen}
    assert keys["/item/1"] == idempotency_key(result.execution_id, "get", (0,))
    assert keys["/item/2"] == idempotency_key(result.execution_id, "get", (1,)) != keys["/item/1"]


async def test_an_unexpected_status_fails_the_node_with_status_and_excerpt(server: str) -> None:
    register_dag(registry, "missing", [
        node("call", "http_request", url=server + "/missing"),
        node("fallback", "transform", value="{{ nodes.call.error.message[:60] }}"),
    ], [edge("call", "fallback", on="error")])
    result = await run("missing")
    assert result.status is ExecutionStatus.SUCCESS
    assert result.result.startswith("GET http://127.0.0.1:")
    message = node_steps(result.steps)["call"]["error"]["message"]
    assert "answered 404 (expected 2xx): no such user xxx" in message and len(message) < 700


async def test_expected_statuses_and_text_bodies(server: str) -> None:
    register_dag(registry, "accepts_404", [
        node("a", "http_request", url=server + "/missing", expected_statuses=[404]),
        node("b", "http_request", url=server + "/text"),
    ], [edge("a", "b")], output={"a": "{{ nodes.a.output.status }}", "b": "{{ nodes.b.output.body }}"})
    result = await run("accepts_404")
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    assert result.result == {"a": 404, "b": "plain words"}
