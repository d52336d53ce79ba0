"""The same behaviour on Azure as on devhost (issue 8), through function_app's functions against Azurite: a sync
request's bounded wait, the public and the admin health, context.http steps, unreadable queue messages, and one
record shape for sync and async executions."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue.aio import QueueClient

from shared.executions import detached
from shared.storage.queues import EXECUTIONS_QUEUE, POISON_QUEUE
from tests.http.conftest import ADMIN_KEY, Api
from tests.http.test_hostile_input import send_bytes
from tests.support.queue_drain import drain


async def ensure_queues(connection_string: str, *names: str) -> None:
    for name in names:
        async with QueueClient.from_connection_string(connection_string, name) as client:
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()


async def post_execute(api: Api, name: str, body: dict[str, Any]) -> func.HttpResponse:
    """The raw response of `POST /api/workflows/{name}/execute` (headers included)."""
    request = func.HttpRequest("POST", f"http://localhost/api/workflows/{name}/execute", route_params={"name": name},
                               headers={"x-api-key": ADMIN_KEY, "Content-Type": "application/json"},
                               body=json.dumps(body).encode())
    return await api.functions["execute_workflow"](request)


async def wait_for_status(api: Api, execution_id: str, statuses: set[str], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _, record = await api.execution(execution_id)
        if record["status"] in statuses:
            return record
        assert time.monotonic() < deadline, f"execution {execution_id} is still {record['status']}"
        await asyncio.sleep(0.1)


# --- a sync request waits at most CONDUIT_SYNC_WAIT_SECONDS ------------------------------------------------------


async def test_a_sync_run_longer_than_the_wait_answers_202_and_runs_on(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sync wait of 1 s and a sync workflow that takes 3 s
    monkeypatch.setenv("CONDUIT_SYNC_WAIT_SECONDS", "1")
    # When it is executed
    started = time.monotonic()
    response = await post_execute(api, "slow_sync", {"input_data": {"seconds": 3}})
    waited = time.monotonic() - started
    # Then the caller is answered 202 before the run ends, with the id, Running, and where to look
    body = json.loads(response.get_body())
    assert response.status_code == 202 and body["status"] == "Running", body
    assert response.headers["Location"] == f"/api/workflows/executions/{body['execution_id']}"
    assert waited >= 1, waited  # and before the run ended: its record is still Running
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Running"
    # And the run goes on to its terminal state, with its result and logs
    record = await wait_for_status(api, body["execution_id"], {"Success", "Failed", "Timeout"})
    assert record["status"] == "Success" and record["output_data"] == {"slept": 3}
    _, logs = await api.logs(body["execution_id"])
    assert [line["message"] for line in logs["items"]] == ["sleeping 3.0 s"]
    assert body["execution_id"] not in detached.running()


async def test_shutdown_lets_a_run_answered_202_finish(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a sync run answered 202 after half a second, still running
    monkeypatch.setenv("CONDUIT_SYNC_WAIT_SECONDS", "0.5")
    response = await post_execute(api, "slow_sync", {"input_data": {"seconds": 2}})
    execution_id = json.loads(response.get_body())["execution_id"]
    assert response.status_code == 202 and execution_id in detached.running()
    # When the process drains before stopping (Runtime.close does this first)
    assert await detached.drain(30) is True
    # Then the run was not lost: it ended, and its record holds the outcome
    _, record = await api.execution(execution_id)
    assert record["status"] == "Success" and detached.running() == []


async def test_a_sync_run_within_the_wait_answers_200_with_its_result(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sync wait of 5 s and a sync run of a tenth of a second (also requested with mode=sync)
    monkeypatch.setenv("CONDUIT_SYNC_WAIT_SECONDS", "5")
    response = await post_execute(api, "slow_sync", {"input_data": {"seconds": 0.1}, "mode": "sync"})
    # Then it answers 200 with the result, as before
    body = json.loads(response.get_body())
    assert response.status_code == 200 and body["status"] == "Success" and body["output_data"] == {"slept": 0.1}


async def test_a_bad_wait_setting_falls_back_to_the_default(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from shared.executions.service import sync_wait_seconds

    monkeypatch.setenv("CONDUIT_SYNC_WAIT_SECONDS", "soon")
    with caplog.at_level(logging.WARNING):
        assert sync_wait_seconds() == 100
    assert "CONDUIT_SYNC_WAIT_SECONDS='soon'" in caplog.text
    monkeypatch.delenv("CONDUIT_SYNC_WAIT_SECONDS")
    assert sync_wait_seconds() == 100


# --- health: up/down and versions for everyone, details for admins -----------------------------------------------


async def test_health_without_a_key_says_only_status_and_versions(api: Api) -> None:
    # When health is asked without a key
    status, body = await api.call("health", "GET", "http://localhost/api/health", key=None)
    # Then it says up or down and the versions, nothing about paths, counts or storage
    assert status == 200
    assert set(body) == {"status", "versions"} and body["status"] == "ok"
    versions = body["versions"]
    assert set(versions) == {"conduit", "python", "azure_functions"}
    assert versions["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert "broken_module" not in json.dumps(body)


async def test_health_with_the_admin_key_lists_load_errors_and_counts(api: Api) -> None:
    # When an admin asks for health
    status, body = await api.call("health", "GET", "http://localhost/api/health")
    # Then the details are there: load errors with paths and messages, counts, storage, abandoned work, recycling
    assert status == 200 and body["status"] == "ok" and body["storage"]["reachable"] is True
    assert body["workflows"] >= 8 and body["data_providers"] >= 1
    assert [e["path"].rsplit("/", 1)[-1] for e in body["load_errors"]] == ["broken_module.py"]
    assert "this module is broken on purpose" in body["load_errors"][0]["error"]
    assert {"abandoned", "recycling", "versions"} <= set(body)


async def test_health_with_a_wrong_key_is_the_public_answer(api: Api) -> None:
    status, body = await api.call("health", "GET", "http://localhost/api/health", key="not-the-key")
    assert status == 200 and set(body) == {"status", "versions"}


# --- context.http: every call is a step, failed ones too, named with their port ----------------------------------


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


async def test_http_calls_are_steps_failed_ones_too_without_gaps(api: Api, local_server: int) -> None:
    # Given a workflow calling a closed port, then a local server on its port, then running a step of its own
    dead = closed_port()
    urls = [f"http://127.0.0.1:{dead}/nothing?token=secret", f"http://127.0.0.1:{local_server}/ok?token=secret"]
    status, body = await api.execute("call_out", {"urls": urls})
    assert status == 200 and body["status"] == "Success", body
    assert body["output_data"] == ["ConnectError", 204]
    # Then each call is a step, the failed one with its error, named with the port, ordered without gaps
    _, steps = await api.call("get_execution_step_records", "GET", "http://x/steps",
                              route={"execution_id": body["execution_id"]})
    summary = [(s["execution_order"], s["step_name"], s["step_type"], s["status"]) for s in steps["items"]]
    assert summary == [
        (1, f"GET 127.0.0.1:{dead}/nothing", "http", "Failed"),
        (2, f"GET 127.0.0.1:{local_server}/ok", "http", "Success"),
        (3, "after the calls", "custom", "Success"),
    ]
    failed, answered = steps["items"][0], steps["items"][1]
    assert failed["error_message"].startswith("ConnectError") and failed["output_data"] is None
    assert failed["input_data"] == {"method": "GET", "url": f"http://127.0.0.1:{dead}/nothing"}
    assert answered["output_data"] == {"status_code": 204} and answered["error_message"] is None
    assert "secret" not in json.dumps(steps)


# --- unreadable queue messages go to the poison handling once, with the reason -----------------------------------

MISSING_FIELDS = {
    b'{"scope": "GLOBAL"}': "execution_id",
    b'{"execution_id": "0190"}': "scope",
    b"{}": "execution_id",
}


async def test_messages_missing_their_fields_are_forwarded_once_and_dropped_with_the_reason(
    app_functions, storage_connection_string: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the queues are empty, then messages that are JSON objects without an execution reference
    run, poison = app_functions["run_queued_execution"], app_functions["handle_poisoned_execution"]
    await ensure_queues(storage_connection_string, EXECUTIONS_QUEUE, POISON_QUEUE)
    await drain(storage_connection_string, EXECUTIONS_QUEUE, run)
    await drain(storage_connection_string, POISON_QUEUE, poison)
    for data in MISSING_FIELDS:
        await send_bytes(storage_connection_string, EXECUTIONS_QUEUE, data)
    caplog.set_level(logging.INFO)
    caplog.clear()
    # When the worker processes them: each is delivered once and acknowledged (no retry)
    delivered = await drain(storage_connection_string, EXECUTIONS_QUEUE, run)
    assert sorted(m.get_body() for m in delivered) == sorted(MISSING_FIELDS)
    assert [m.dequeue_count for m in delivered] == [1] * len(MISSING_FIELDS)
    # Then each was forwarded to the poison queue once, and the poison handler logs one line naming the field
    poisoned = await drain(storage_connection_string, POISON_QUEUE, poison)
    assert sorted(m.get_body() for m in poisoned) == sorted(MISSING_FIELDS)
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == len(MISSING_FIELDS)
    for record, message in zip(errors, poisoned, strict=True):
        assert record.name == "conduit.poison" and "Not an execution message" in record.getMessage()
        assert f"{MISSING_FIELDS[message.get_body()]} must be" in record.getMessage()
    assert await drain(storage_connection_string, EXECUTIONS_QUEUE, run) == []


# --- one record shape -------------------------------------------------------------------------------------------


async def test_sync_and_async_records_have_the_same_keys(api: Api, run_queue) -> None:
    # Given the same workflow run once sync and once async
    status, ran = await api.execute("same_shape", {"value": "s"}, body_extra={"mode": "sync"})
    assert status == 200
    status, queued = await api.execute("same_shape", {"value": "a"})
    assert status == 202
    await run_queue()
    # When both records are read
    _, sync_record = await api.execution(ran["execution_id"])
    async_record = await wait_for_status(api, queued["execution_id"], {"Success"})
    # Then they have the same keys, caller keys included, with created_at set and variables null
    assert sync_record["status"] == "Success"
    assert set(sync_record) == set(async_record)
    assert set(sync_record["caller"]) == set(async_record["caller"])
    for record in (sync_record, async_record):
        assert record["created_at"] and record["variables"] is None
        assert record["caller"]["is_platform_admin"] is True


async def test_an_inline_script_longer_than_the_wait_answers_202_and_runs_on(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sync wait of 1 s and a script that takes 3 s
    monkeypatch.setenv("CONDUIT_SYNC_WAIT_SECONDS", "1")
    code = base64.b64encode(b"import asyncio\nawait asyncio.sleep(3)\nresult = 'done'").decode()
    # When it is run
    status, body = await api.call(
        "execute_script", "POST", "http://localhost/api/scripts/execute", body={"code": code, "name": "slow"}
    )
    # Then it is answered 202 with its id, and it runs on to Success with its result
    assert status == 202 and body["status"] == "Running", body
    record = await wait_for_status(api, body["execution_id"], {"Success", "Failed", "Timeout"})
    assert record["status"] == "Success" and record["output_data"] == "done"
