"""A storage outage, injected for real through the fault seam: every route that needs storage answers 503 with
Retry-After and no internal detail, the real error is logged once with the id the caller got, and once the faults
are cleared the same routes answer normally."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from shared.storage import faults
from tests.http.conftest import ADMIN_KEY, Api

# What must never reach a caller: the fault's text, exception names, where storage lives.
INTERNAL = ("Injected", "injected", "ServiceRequestError", "ServiceResponse", "HttpResponseError", "127.0.0.1",
            "localhost:", "devstoreaccount1", "Could not", "ConduitExecutions", "Traceback")

OUTAGES = {
    "dropped connections": [{"match": "table.*", "fault": "drop"}, {"match": "queue.*", "fault": "drop"}],
    "read timeouts": [{"match": "table.*", "fault": "timeout"}, {"match": "queue.*", "fault": "timeout"}],
    "5xx answers": [{"match": "table.*", "fault": "error", "status": 500},
                    {"match": "queue.*", "fault": "error", "status": 503}],
}


@pytest.fixture
def no_faults_after() -> Iterator[None]:
    yield
    faults.clear()


def routes(execution_id: str) -> list[tuple[str, str, str, dict[str, str], dict[str, Any] | None]]:
    """(function, method, url, route params, JSON body) for every route that reads or writes storage."""
    ex = {"execution_id": execution_id}
    base = "http://localhost/api/workflows"
    script = {"code": base64.b64encode(b"result = 1\n").decode()}
    return [
        ("execute_workflow", "POST", f"{base}/echo_any/execute", {"name": "echo_any"}, {"input_data": {"payload": 1}}),
        ("execute_workflow", "POST", f"{base}/echo_async/execute", {"name": "echo_async"}, {"input_data": {}}),
        ("list_execution_page", "GET", f"{base}/executions", {}, None),
        ("get_execution_by_id", "GET", f"{base}/executions/{execution_id}", ex, None),
        ("get_execution_log_lines", "GET", f"{base}/executions/{execution_id}/logs", ex, None),
        ("get_execution_step_records", "GET", f"{base}/executions/{execution_id}/steps", ex, None),
        ("cancel_execution_by_id", "POST", f"{base}/executions/{execution_id}/cancel", ex, None),
        ("execute_script", "POST", "http://localhost/api/scripts/execute", {}, script),
    ]


async def call(api: Api, function: str, method: str, url: str, route: dict[str, str], body: Any,
               key: str | None = ADMIN_KEY) -> func.HttpResponse:
    headers = {"Content-Type": "application/json", **({"x-api-key": key} if key else {})}
    payload = json.dumps(body).encode() if body is not None else b""
    request = func.HttpRequest(method, url, headers=headers, route_params=route, body=payload)
    response: func.HttpResponse = await api.functions[function](request)
    return response


def assert_unavailable(response: func.HttpResponse, what: str) -> str:
    """503 storage_unavailable with Retry-After and nothing internal; returns the error id."""
    text = response.get_body().decode()
    assert response.status_code == 503, (what, response.status_code, text)
    assert response.headers.get("Retry-After") == "5", what
    error = json.loads(text)["error"]
    assert error["code"] == "storage_unavailable" and error["message"] == "Storage is unavailable; try again shortly."
    assert set(error["details"]) == {"error_id", "retry_after_seconds"}
    assert not [word for word in INTERNAL if word in text], (what, text)
    return str(error["details"]["error_id"])


@pytest.mark.parametrize("outage", list(OUTAGES))
async def test_every_storage_route_answers_503_during_an_outage_and_normally_after(
    api: Api, outage: str, no_faults_after: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an execution that finished before the outage
    status, done = await api.execute("echo_any", {"payload": {"when": "before"}})
    assert status == 200 and done["status"] == "Success"
    caplog.set_level(logging.INFO)
    caplog.clear()
    # When every Table and Queue request fails
    with faults.injected(OUTAGES[outage]):
        ids = []
        for function, method, url, route, body in routes(done["execution_id"]):
            response = await call(api, function, method, url, route, body)
            ids.append(assert_unavailable(response, f"{function} {url}"))
        # And routes that need no storage still serve
        listed = await call(api, "list_workflows", "GET", "http://localhost/api/workflows", {}, None)
        assert listed.status_code == 200
        assert faults.fired() > 0
    # Then each 503 was logged once, server-side, with its error id and the real error
    lines = [r.getMessage() for r in caplog.records if r.name == "conduit.http"]
    assert len(lines) == len(ids)
    for error_id, line in zip(ids, lines, strict=True):
        assert line.startswith(f"storage unavailable {error_id} in ") and "Injected" in line and "\n" not in line
    # When the faults are cleared, the same routes answer normally
    expected = [200, 202, 200, 200, 200, 200, 409, 200]
    for (function, method, url, route, body), status in zip(routes(done["execution_id"]), expected, strict=True):
        response = await call(api, function, method, url, route, body)
        assert response.status_code == status, (function, response.get_body()[:300])


async def test_health_during_an_outage_shows_no_internal_detail_to_anonymous_callers(
    api: Api, no_faults_after: None
) -> None:
    url = "http://localhost/api/health"
    with faults.injected([{"match": "table.*", "fault": "drop"}]):
        anonymous = await call(api, "health", "GET", url, {}, None, key=None)
        admin = await call(api, "health", "GET", url, {}, None)
    # Then both answer 503 with Retry-After; nothing internal for the anonymous caller
    for response in (anonymous, admin):
        assert response.status_code == 503 and response.headers.get("Retry-After") == "5"
        assert json.loads(response.get_body())["status"] == "degraded"
    assert json.loads(admin.get_body())["storage"]["reachable"] is False
    text = anonymous.get_body().decode()
    assert not [word for word in INTERNAL if word in text], text
    # And after the outage health is 200 again
    assert (await call(api, "health", "GET", url, {}, None, key=None)).status_code == 200


async def test_retry_after_follows_its_setting(api: Api, no_faults_after: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUIT_RETRY_AFTER_SECONDS", "30")
    with faults.injected([{"match": "table.*", "fault": "drop"}]):
        response = await call(api, "list_execution_page", "GET", "http://localhost/api/workflows/executions", {},
                              None)
    assert response.status_code == 503 and response.headers.get("Retry-After") == "30"
    assert json.loads(response.get_body())["error"]["details"]["retry_after_seconds"] == 30
