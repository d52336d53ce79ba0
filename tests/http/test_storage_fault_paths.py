"""Storage faults injected on each path an execution takes — create, queue send, claim, flush, finish, cancel, message
delete — through the real fault seam (shared.storage.faults) on Azurite. Whatever fails, every accepted execution ends
in exactly one terminal state, and a refused one leaves nothing behind."""

from __future__ import annotations

import asyncio

import pytest

from shared.storage import faults
from shared.storage.queues import EXECUTIONS_QUEUE
from tests.http.conftest import Api
from tests.support.queue_drain import drain

RECORD_WRITES = "table.ConduitExecutions.merge"  # claim, lease renewal, cancel and finish are ETag-conditional MERGEs


@pytest.fixture(autouse=True)
def no_faults_left_behind():
    yield
    faults.clear()


async def _newest(api: Api, workflow: str) -> list[dict]:
    _, page = await api.call("list_execution_page", "GET", "http://x/api/workflows/executions",
                             params={"workflow_id": workflow, "limit": "100"})
    return page["items"]


async def test_create_failing_answers_503_and_leaves_nothing(api: Api) -> None:
    # Given storage refuses to create execution records
    before = len(await _newest(api, "shout"))
    with faults.injected([{"match": "table.ConduitExecutions.create", "fault": "error", "status": 503}]):
        # When a sync execution is requested
        status, body = await api.execute("shout", {"text": "lost?"})
    # Then the caller is told to retry later, and nothing was stored or run
    assert status == 503, body
    assert body["error"]["code"] == "storage_unavailable"
    assert len(await _newest(api, "shout")) == before


async def test_queue_send_failing_fails_the_record_before_answering(api: Api, run_queue) -> None:
    # Given the queue refuses messages
    await run_queue()
    with faults.injected([{"match": f"queue.{EXECUTIONS_QUEUE}.send", "fault": "error", "status": 503}]):
        status, body = await api.execute("listed", {"n": 7})
    # Then the caller gets 503, and the record it wrote is already terminal, so nothing waits forever for a message
    assert status == 503, body
    newest = (await _newest(api, "listed"))[0]
    assert newest["status"] == "Failed"
    assert await run_queue() == 0


async def test_claim_failing_is_retried_by_redelivery_and_runs_once(api: Api, run_queue, app_functions,
                                                                   storage_connection_string) -> None:
    # Given an async execution whose first claim fails in storage
    _, body = await api.execute("later", {"value": "claimed"})
    with faults.injected([{"match": RECORD_WRITES, "fault": "error", "status": 503}]), \
            pytest.raises(Exception):  # noqa: B017 - the queue function raises so the host redelivers the message
        await drain(storage_connection_string, EXECUTIONS_QUEUE, app_functions["run_queued_execution"],
                    max_rounds=1, visibility_timeout=1)
    # When the message comes back (its visibility lapses) and storage is healthy again
    await asyncio.sleep(1.5)
    await run_queue()
    # Then it ran exactly once
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success" and record["attempt"] == 1
    _, logs = await api.logs(body["execution_id"])
    assert [line["message"] for line in logs["items"]] == ["queued run with claimed"]


async def test_finish_failing_transiently_still_stores_the_result(api: Api) -> None:
    # Given the first five attempts to write the terminal state fail (more than the SDK retries by itself)
    with faults.injected([{"match": RECORD_WRITES, "fault": "error", "status": 503, "times": 5}]):
        status, body = await api.execute("shout", {"text": "kept"})
    # Then the execution ran once and its terminal record holds the result
    assert status == 200 and body["status"] == "Success"
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success" and record["output_data"] == {"shouted": "KEPT!"}


async def test_log_flushes_failing_lose_no_lines(api: Api, run_queue) -> None:
    # Given an execution that logs before and after a pause, and log flushes that fail while it runs
    _, body = await api.execute("tail_me")
    with faults.injected([{"match": "table.ConduitExecutionDetails.upsert", "fault": "error", "status": 500,
                           "times": 3}]):
        await run_queue()
    # Then every line is stored once the execution finished
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success"
    _, logs = await api.logs(body["execution_id"])
    assert [line["message"] for line in logs["items"]] == ["first", "second"]


async def test_cancel_failing_answers_503_and_a_retry_cancels(api: Api, run_queue) -> None:
    # Given a pending execution
    await run_queue()
    _, body = await api.execute("later", {"value": "cancel me"})
    route = {"execution_id": body["execution_id"]}
    # When the cancel request meets a storage outage
    with faults.injected([{"match": "table.ConduitExecutions.*", "fault": "drop"}]):
        status, answer = await api.call("cancel_execution_by_id", "POST", "http://x/cancel", route=route)
    # Then it answers 503, and retried once storage is back it cancels
    assert status == 503, answer
    status, answer = await api.call("cancel_execution_by_id", "POST", "http://x/cancel", route=route)
    assert status == 200 and answer["status"] == "Cancelled"
    await run_queue()
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Cancelled"


async def test_message_delete_failing_redelivers_and_nothing_runs_twice(api: Api, app_functions,
                                                                      storage_connection_string) -> None:
    # Given an async execution whose message cannot be deleted after the run (the host would redeliver it)
    _, body = await api.execute("later", {"value": "once"})
    with faults.injected([{"match": f"queue.{EXECUTIONS_QUEUE}.delete", "fault": "error", "status": 503}]), \
            pytest.raises(Exception):  # noqa: B017 - the burst worker's own delete fails, as the host's would
        await drain(storage_connection_string, EXECUTIONS_QUEUE, app_functions["run_queued_execution"],
                    max_rounds=1, visibility_timeout=1)
    # When the message is delivered again
    await asyncio.sleep(1.5)
    await drain(storage_connection_string, EXECUTIONS_QUEUE, app_functions["run_queued_execution"])
    # Then the execution ran once
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success" and record["attempt"] == 1
    _, logs = await api.logs(body["execution_id"])
    assert len(logs["items"]) == 1


async def test_a_create_whose_answer_was_lost_runs_once_and_answers_normally(api: Api) -> None:
    # Given storage applies the record's create but the answer never arrives (the SDK sends it again)
    with faults.injected([{"match": "table.ConduitExecutions.create", "fault": "lost_response", "times": 1}]):
        # When a sync execution is requested
        status, body = await api.execute("shout", {"text": "once"})
    # Then the retry recognises its own write: the workflow ran once and answered as usual
    assert status == 200 and body["status"] == "Success", body
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success" and record["output_data"] == {"shouted": "ONCE!"}


@pytest.mark.parametrize("key", [None, "lost-answer-key"])
async def test_an_async_submit_whose_answer_was_lost_is_queued_and_runs_once(api: Api, run_queue, key) -> None:
    # Given the Pending record (with its idempotency key, in one transaction) is written but its answer is lost
    await run_queue()
    operation = "batch" if key else "create"
    extra = {"idempotency_key": key} if key else {}
    with faults.injected([{"match": f"table.ConduitExecutions.{operation}", "fault": "lost_response", "times": 1}]):
        status, body = await api.execute("later", {"value": "lost answer"}, body_extra=extra)
    # Then the submit is accepted as new (not a duplicate of itself), its message is sent, and it runs once
    assert status == 202 and not body.get("duplicate"), body
    assert await run_queue() == 1
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success" and record["attempt"] == 1
