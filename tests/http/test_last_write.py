"""The last write is never lost: whatever a step holds or storage does at the end of a run, the execution ends in
one terminal record, and a taken-over execution keeps each attempt's log lines and steps apart. Through
function_app's functions on Azurite, with storage faults injected through the real seam (shared.storage.faults)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta

import azure.functions as func
import pytest

from shared.executions.worker import process_message
from shared.models import utc_now
from shared.runtime import get_runtime, load_functions
from shared.storage import faults
from shared.storage.queues import EXECUTIONS_QUEUE
from tests.http.conftest import ADMIN_KEY, Api
from tests.support.queue_drain import drain, send_raw

RECORD_WRITES = "table.ConduitExecutions.merge"


@pytest.fixture(autouse=True)
def quick_finish(monkeypatch):
    """Short retry budgets, so that giving up is quick; faults never outlive a test."""
    monkeypatch.setenv("CONDUIT_FINISH_RETRY_SECONDS", "1.5")
    monkeypatch.setenv("CONDUIT_FINISH_BACKOFF_MAX_SECONDS", "0.5")
    yield
    faults.clear()


@pytest.fixture
def flows():
    """The workspace module of these tests, as discovery loaded it."""
    module = sys.modules[load_functions()[0].get("held_run").function.__module__]
    module.held.clear()
    module.release.clear()
    return module


async def _steps(api: Api, execution_id: str, **params: str) -> tuple[int, dict]:
    return await api.call("get_execution_step_records", "GET", "http://x/steps", route={"execution_id": execution_id},
                          params=params)


async def _execute_with_headers(api: Api, name: str) -> tuple[int, dict, dict]:
    request = func.HttpRequest("POST", f"http://localhost/api/workflows/{name}/execute",
                               headers={"Content-Type": "application/json", "x-api-key": ADMIN_KEY},
                               route_params={"name": name}, body=b'{"input_data": {}}')
    response = await api.functions["execute_workflow"](request)
    return response.status_code, json.loads(response.get_body()), dict(response.headers)


async def _terminal(api: Api, execution_id: str, within: float = 20.0) -> dict:
    """Poll the record until it is terminal (or `within` seconds passed); return it."""
    record: dict = {}
    for _ in range(int(within / 0.2)):
        status, record = await api.execution(execution_id)
        if status == 200 and record["status"] not in ("Pending", "Running", "Cancelling"):
            return record
        await asyncio.sleep(0.2)
    return record


async def test_a_200_kb_step_is_stored_cut_and_the_sync_caller_gets_200(api: Api) -> None:
    # Given a sync workflow whose step outputs 200,000 characters (more than a step row holds)
    status, body = await api.execute("big_step", {"size": 200_000})
    # Then the caller gets its result (not 413) and the record is terminal with it
    assert status == 200, body
    assert body["status"] == "Success" and body["output_data"] == {"exported": 200_000}
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success" and record["output_data"] == {"exported": 200_000}
    # And the step is stored with its output cut, saying how much was cut
    _, steps = await _steps(api, body["execution_id"])
    (step,) = steps["items"]
    assert step["step_name"] == "export" and step["status"] == "Success" and step["input_data"] == {"rows": 3}
    assert step["truncated"] == ["output_data"]
    assert step["output_data"].startswith('{"csv":"xxxx')
    assert "characters cut; a step is stored with at most 128,000 characters]" in step["output_data"]
    assert "of 200,010 characters cut" in step["output_data"]
    _, logs = await api.logs(body["execution_id"])
    assert [line["message"] for line in logs["items"]] == ["exporting 200000 characters"]


async def test_huge_step_names_and_log_lines_never_break_finish(api: Api) -> None:
    # Given a step with a 5,000-character name and a 300,000-character input that logs a 300,000-character line
    status, body = await api.execute("long_names")
    # Then it finishes Success and everything is stored, cut where it had to be, with a marker
    assert status == 200 and body["status"] == "Success", body
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success" and record["output_data"] == "done"
    _, logs = await api.logs(body["execution_id"])
    long_line, ordinary = logs["items"]
    assert long_line["message"].endswith("characters; the limit is 262144 characters per log line]")
    assert long_line["step_name"].startswith("sss") and "[truncated" in long_line["step_name"]
    assert ordinary["message"] == "an ordinary line"
    _, steps = await _steps(api, body["execution_id"])
    (step,) = steps["items"]
    assert step["step_name"] == "s" * 5_000 and "input_data" in step["truncated"]


@pytest.mark.parametrize("match", [RECORD_WRITES, "table.ConduitExecutionDetails.*"], ids=["record", "details"])
async def test_finish_is_retried_through_503s_and_stores_the_real_result(api: Api, match: str) -> None:
    # Given the first five requests of the final write's record or details fail with 503 (more than the SDK retries)
    with faults.injected([{"match": match, "fault": "error", "status": 503, "times": 5}]) as rules:
        status, body = await api.execute("shout", {"text": "kept"})
    # Then the write was retried, and the terminal record holds the real result and its log line
    assert rules[0].fired == 5
    assert status == 200 and body["status"] == "Success", body
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success" and record["output_data"] == {"shouted": "KEPT!"}
    _, logs = await api.logs(body["execution_id"])
    assert [line["message"] for line in logs["items"]] == ["shouting kept"]


async def test_details_that_cannot_be_stored_end_failed_with_persistence_error(api: Api) -> None:
    # Given every write of details rows (log pages, steps) fails
    with faults.injected([{"match": "table.ConduitExecutionDetails.*", "fault": "error", "status": 503}]):
        status, body = await api.execute("shout", {"text": "lost"})
    # Then the caller is told what happened, and the record is terminal: Failed / PersistenceError, lease released
    assert status == 200 and body["status"] == "Failed" and body["error_type"] == "PersistenceError", body
    assert "ended Success, but its outcome could not be stored" in body["error_message"]
    _, record = await api.execution(body["execution_id"])
    assert (record["status"], record["error_type"]) == ("Failed", "PersistenceError")
    assert record["output_data"] is None and record["error_message"] == body["error_message"]
    stored = await (await get_runtime()).store.get("GLOBAL", body["execution_id"])
    assert stored is not None and stored.lease_owner is None and stored.lease_expires_at is None


async def test_storage_outage_at_finish_answers_503_and_the_run_ends_terminal_once_storage_is_back(
    api: Api, flows
) -> None:
    # Given a sync execution that is running (its record was created)
    call = asyncio.ensure_future(_execute_with_headers(api, "held_run"))
    for _ in range(100):
        if flows.held:
            break
        await asyncio.sleep(0.05)
    (execution_id,) = flows.held
    # When storage drops every table request as it finishes
    rules = faults.install([{"match": "table.*", "fault": "drop"}])
    flows.release.append(True)
    status, body, headers = await asyncio.wait_for(call, 60)
    # Then the caller gets 503 with Retry-After and the execution id, not 500 and not a lost run
    assert status == 503, body
    assert body["error"]["code"] == "finish_pending" and body["error"]["details"]["execution_id"] == execution_id
    assert int(headers["Retry-After"]) > 0
    assert rules[0].fired > 0
    # And once storage is back, the background finisher stores the real outcome
    faults.clear()
    record = await _terminal(api, execution_id)
    assert record["status"] == "Success" and record["output_data"] == {"released": True}
    stored = await (await get_runtime()).store.get("GLOBAL", execution_id)
    assert stored is not None and stored.lease_owner is None
    _, logs = await api.logs(execution_id)
    assert [line["message"] for line in logs["items"]] == ["holding"]


async def test_takeover_keeps_each_attempts_log_lines_and_steps_apart(
    api: Api, flows, storage_connection_string, app_functions
) -> None:
    # Given an async execution whose first run logged 5 lines (flushed while it ran), then its host died
    _, body = await api.execute("taken_over", {"lines": 5})
    execution_id = body["execution_id"]
    message = json.dumps({"execution_id": execution_id, "scope": "GLOBAL"})
    first_run = asyncio.ensure_future(process_message(await get_runtime(), message))
    for _ in range(100):
        _, logs = await api.logs(execution_id)
        if len(logs["items"]) == 5:
            break
        await asyncio.sleep(0.1)
    first_run.cancel()
    await asyncio.gather(first_run, return_exceptions=True)
    runtime = await get_runtime()
    record = await runtime.store.get("GLOBAL", execution_id)
    assert record is not None and record.status.value == "Running"
    await runtime.store.update(record, lease_owner="dead-host", lease_expires_at=utc_now() - timedelta(seconds=1))
    # When its message comes back and another worker takes it over (attempt 2, which logs 2 lines)
    await send_raw(storage_connection_string, EXECUTIONS_QUEUE, message)
    await drain(storage_connection_string, EXECUTIONS_QUEUE, app_functions["run_queued_execution"])
    # Then the record is attempt 2's, and its logs and steps are shown by default
    _, stored = await api.execution(execution_id)
    assert stored["status"] == "Success" and stored["attempt"] == 2 and stored["output_data"] == {"run": 2}
    _, logs = await api.logs(execution_id)
    assert logs["attempt"] == 2
    assert [line["message"] for line in logs["items"]] == ["run 2 line 0", "run 2 line 1"]
    _, steps = await _steps(api, execution_id)
    assert steps["attempt"] == 2 and [s["step_name"] for s in steps["items"]] == ["run 2"]
    assert steps["items"][0]["attempt"] == 2
    # And attempt 1's lines are kept apart, untouched, on request
    _, first = await api.logs(execution_id, params={"attempt": "1"})
    assert first["attempt"] == 1
    assert [line["message"] for line in first["items"]] == [f"run 1 line {i}" for i in range(5)]
    _, tail = await api.logs(execution_id, params={"attempt": "1", "after": "3", "limit": "1"})
    assert [line["message"] for line in tail["items"]] == ["run 1 line 3"]
    _, first_steps = await _steps(api, execution_id, attempt="1")
    assert first_steps["items"] == []  # a run that died never stored its steps


@pytest.mark.parametrize("value", ["0", "x", "1000", "2"])
async def test_a_bad_attempt_is_422(api: Api, value: str) -> None:
    # Given an execution that ran once
    _, body = await api.execute("shout", {"text": "once"})
    # When its logs or steps are asked for a bad attempt (not a number, out of range, one it never had)
    status, answer = await api.logs(body["execution_id"], params={"attempt": value})
    steps_status, _ = await _steps(api, body["execution_id"], attempt=value)
    # Then 422 naming the field
    assert status == steps_status == 422, answer
    assert answer["error"]["details"][0]["field"] == "attempt"
