"""Idempotency keys over HTTP: one execution per key, whatever the timing, bound to its workflow."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.storage import faults
from shared.storage.queues import EXECUTIONS_QUEUE
from tests.http.conftest import Api


@pytest.fixture(autouse=True)
def no_faults_left_behind():
    yield
    faults.clear()


def _scope() -> dict[str, str]:
    return {"X-Organization-Id": f"org-idem-{uuid.uuid4().hex[:8]}"}


async def _listed(api: Api, scope: dict[str, str]) -> list[dict]:
    _, page = await api.call("list_execution_page", "GET", "http://x/api/workflows/executions",
                             params={"limit": "100"}, headers=scope)
    return page["items"]


async def test_ten_concurrent_submits_of_one_key_during_a_slow_first_write_run_once(api: Api, run_queue) -> None:
    # Given a fresh scope, and the first record-and-key transaction held up for a second
    scope, extra = _scope(), {"idempotency_key": "slow-first"}
    await api.execute("later", {"value": "warm"}, headers=scope)  # the scope is registered; then only batches remain
    await run_queue()
    rules = [{"match": "table.ConduitExecutions.batch", "fault": "latency", "latency_ms": 1000, "times": 1}]
    with faults.injected(rules):
        # When ten submits with the same key arrive at once
        answers = await asyncio.gather(
            *(api.execute("later", {"value": "once"}, body_extra=extra, headers=scope) for _ in range(10))
        )
        assert faults.fired("table.ConduitExecutions.batch") == 1
    # Then every answer is 202 and names the same execution; all but one say it is a duplicate
    assert {status for status, _ in answers} == {202}
    ids = {body["execution_id"] for _, body in answers}
    assert len(ids) == 1
    assert sorted(bool(body.get("duplicate")) for _, body in answers) == [False] + [True] * 9
    # And exactly one execution was created and runs
    await run_queue()
    keyed = [item for item in await _listed(api, scope) if item["id"] in ids]
    assert len(keyed) == 1 and keyed[0]["status"] == "Success"
    assert len(await _listed(api, scope)) == 2  # the warm-up and the keyed one: no key row is listed


async def test_a_key_is_bound_to_its_workflow(api: Api, run_queue) -> None:
    # Given a key used for one workflow
    scope, extra = _scope(), {"idempotency_key": "bound"}
    status, first = await api.execute("later", {"value": "a"}, body_extra=extra, headers=scope)
    assert status == 202
    # When the same key is used for another workflow in the scope
    status, body = await api.execute("listed", {"n": 1}, body_extra=extra, headers=scope)
    # Then 409 names the workflow it belongs to, and nothing was created
    assert status == 409, body
    assert "already used for workflow 'later'" in body["error"]["message"]
    assert body["error"]["details"] == {"workflow": "later", "execution_id": first["execution_id"]}
    assert [item["id"] for item in await _listed(api, scope)] == [first["execution_id"]]
    await run_queue()


async def test_a_failed_send_fails_the_record_and_the_key_keeps_naming_it(api: Api, run_queue) -> None:
    # Given the queue refuses messages
    await api.execute("later", {"value": "warm"})
    await run_queue()
    scope, extra = _scope(), {"idempotency_key": "unsent"}
    with faults.injected([{"match": f"queue.{EXECUTIONS_QUEUE}.send", "fault": "error", "status": 503}]):
        status, body = await api.execute("later", {"value": "x"}, body_extra=extra, headers=scope)
    # Then the caller gets an error, and the record it wrote already says it was not run
    assert status >= 500, body
    failed = (await _listed(api, scope))[0]
    assert failed["status"] == "Failed" and "was not run" in failed["error_message"]
    _, record = await api.execution(failed["id"], headers=scope)
    assert record["error_type"] == "QueueSendFailed"
    # And a retry with the same key answers with that execution (one key, one execution), which never runs
    status, retried = await api.execute("later", {"value": "x"}, body_extra=extra, headers=scope)
    assert status == 202 and retried["execution_id"] == failed["id"] and retried["duplicate"] is True
    assert retried["status"] == "Failed"
    assert await run_queue() == 0
    # While a new key runs it
    status, fresh = await api.execute("later", {"value": "x"}, body_extra={"idempotency_key": "unsent-2"},
                                      headers=scope)
    assert status == 202 and not fresh.get("duplicate")
    assert await run_queue() == 1
    _, record = await api.execution(fresh["execution_id"], headers=scope)
    assert record["status"] == "Success"
