"""While a host recycles (too much abandoned user code), sync executions answer 503 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import azure.functions as func
import pytest

from shared.engine import recycling
from shared.engine.recycling import Recycler
from tests.http.conftest import ADMIN_KEY


@pytest.fixture
def recycling_host() -> Iterator[None]:
    previous = recycling.install(Recycler(max_abandoned=1))
    recycling.set_recycle_hook(lambda reason: None)
    recycling.current().recycle("a test asked for it")
    try:
        yield
    finally:
        recycling.install(previous)


async def test_sync_execute_answers_503_with_retry_after_while_recycling(app_functions, recycling_host) -> None:
    # Given a host that is recycling
    # When a sync execution is asked for
    request = func.HttpRequest("POST", "http://localhost/api/workflows/greet/execute",
                               body=b'{"input_data": {"name": "Ada"}}',
                               headers={"x-api-key": ADMIN_KEY, "Content-Type": "application/json"},
                               route_params={"name": "greet"})
    response = await app_functions["execute_workflow"](request)
    # Then it is refused with 503 and a Retry-After, and health says why
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert b"host_recycling" in response.get_body()
    health = await app_functions["health"](func.HttpRequest("GET", "http://localhost/api/health", body=b""))
    assert health.status_code == 503 and b'"status":"recycling"' in health.get_body()
