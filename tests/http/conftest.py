"""Fixtures for end-to-end tests through the HTTP function objects of function_app.py."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

ADMIN_KEY = "test-admin-key"
WORKSPACE = Path(__file__).parent / "workspace"


@pytest.fixture(scope="session")
def app_functions(storage_connection_string: str) -> dict[str, Callable[[func.HttpRequest], Awaitable[Any]]]:
    """function_app's functions by name, configured against the test Azurite and the test workspace."""
    os.environ["AzureWebJobsStorage"] = storage_connection_string
    os.environ["CONDUIT_ADMIN_KEY"] = ADMIN_KEY
    os.environ["CONDUIT_WORKSPACE"] = str(WORKSPACE)
    from function_app import app

    if not _FUNCTIONS:  # once per process: test modules elsewhere (tests/identity) import this fixture too
        _FUNCTIONS.update({f.get_function_name(): f.get_user_function() for f in app.get_functions()})
    return _FUNCTIONS


_FUNCTIONS: dict[str, Callable[[func.HttpRequest], Awaitable[Any]]] = {}


class Api:
    """Calls function objects the way the Functions host would: an HttpRequest in, an HttpResponse out."""

    def __init__(self, functions: dict[str, Callable[[func.HttpRequest], Awaitable[Any]]]) -> None:
        self.functions = functions

    async def call(
        self,
        function: str,
        method: str,
        url: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        route: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = ADMIN_KEY,
    ) -> tuple[int, Any]:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            sent["x-api-key"] = key
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        request = func.HttpRequest(method, url, headers=sent, params=params or {}, route_params=route or {},
                                   body=payload)
        response: func.HttpResponse = await self.functions[function](request)
        text = response.get_body().decode()
        return response.status_code, json.loads(text) if text else None

    async def execute(
        self, name: str, input_data: dict[str, Any] | None = None, body_extra: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[int, Any]:
        body = {"input_data": input_data or {}, **(body_extra or {})}
        return await self.call("execute_workflow", "POST", f"http://localhost/api/workflows/{name}/execute",
                               body=body, route={"name": name}, **kw)

    async def execution(self, execution_id: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("get_execution_by_id", "GET", f"http://localhost/api/workflows/executions/{execution_id}",
                               route={"execution_id": execution_id}, **kw)

    async def logs(self, execution_id: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("get_execution_log_lines", "GET",
                               f"http://localhost/api/workflows/executions/{execution_id}/logs",
                               route={"execution_id": execution_id}, **kw)


@pytest.fixture(scope="session")
def api(app_functions) -> Api:
    return Api(app_functions)


@pytest.fixture
def run_queue(app_functions, storage_connection_string) -> Callable[[], Awaitable[int]]:
    """Process what is queued on the executions queue with function_app's queue function; returns how many."""
    from shared.storage.queues import EXECUTIONS_QUEUE
    from tests.support.queue_drain import drain

    async def run() -> int:
        return len(await drain(storage_connection_string, EXECUTIONS_QUEUE, app_functions["run_queued_execution"]))

    return run
