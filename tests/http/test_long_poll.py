"""Long polls: `GET .../executions/{id}?wait=N` and `GET .../logs?after=&wait=N` answer as soon as the execution
changes (or after N s), and many waiting clients cost storage one poll per interval, not one each."""

import asyncio
import time
from typing import Any

from shared.runtime import get_runtime
from shared.storage import faults
from tests.http.conftest import Api


async def timed(call: Any) -> tuple[float, int, Any]:
    started = time.monotonic()
    status, body = await call
    return time.monotonic() - started, status, body


async def test_a_client_follows_a_run_with_one_open_request_at_a_time(api: Api, run_queue) -> None:
    # Given an async execution that logs "first", sleeps 3 s, logs "second", and a worker that picks it up
    _, submitted = await api.execute("tail_me", {"seconds": 3})
    execution_id = submitted["execution_id"]
    worker = asyncio.ensure_future(run_queue())
    try:
        # When a client waits for the Pending record to change
        elapsed, status, record = await timed(api.execution(execution_id, params={"wait": "10"}))
        # Then it answers once the worker claimed it, well before the wait expired
        assert status == 200 and record["status"] == "Running" and elapsed < 9
        # When it waits for log lines
        elapsed, _, logs = await timed(api.logs(execution_id, params={"after": "0", "wait": "10"}))
        # Then "first" comes as soon as the run flushed it (about a second), not after the wait
        assert [line["message"] for line in logs["items"]] == ["first"] and elapsed < 3
        # When it waits for the lines after "first"
        elapsed, _, tail = await timed(api.logs(execution_id, params={"after": str(logs["last_sequence"]),
                                                                        "wait": "10"}))
        # Then "second" comes when the run stores it, at its end (about 3 s after "first"), not after the wait
        assert [line["message"] for line in tail["items"]] == ["second"] and 1 < elapsed < 6
        # And a wait on the record answers at once now that it finished
        elapsed, _, record = await timed(api.execution(execution_id, params={"wait": "10"}))
        assert record["status"] == "Success" and elapsed < 1
    finally:
        await worker


async def test_record_wait_answers_when_the_run_finishes(api: Api, run_queue) -> None:
    # Given a Running execution that sleeps 2 s between its lines
    _, submitted = await api.execute("tail_me", {"seconds": 2})
    execution_id = submitted["execution_id"]
    worker = asyncio.ensure_future(run_queue())
    try:
        _, record = await api.execution(execution_id, params={"wait": "10"})
        assert record["status"] == "Running"
        # When a client waits on its record
        elapsed, _, record = await timed(api.execution(execution_id, params={"wait": "10"}))
        # Then it answers with the finished record as the run ends, not after 10 s
        assert record["status"] == "Success" and elapsed < 5
    finally:
        await worker


async def test_idle_execution_answers_unchanged_after_the_wait(api: Api, run_queue) -> None:
    # Given a Pending execution nobody runs yet
    _, submitted = await api.execute("later", {"value": "idle"})
    execution_id = submitted["execution_id"]
    try:
        # When a client waits 1 s on its record and on its logs
        record_wait = timed(api.execution(execution_id, params={"wait": "1"}))
        logs_wait = timed(api.logs(execution_id, params={"after": "0", "wait": "1"}))
        (record_took, _, record), (logs_took, _, logs) = await asyncio.gather(record_wait, logs_wait)
        # Then both answer after about a second, unchanged
        assert record["status"] == "Pending" and 0.9 < record_took < 2.5
        assert logs["items"] == [] and logs["last_sequence"] == 0 and 0.9 < logs_took < 2.5
    finally:
        assert await run_queue() >= 1  # leave no message for other tests' workers


async def test_wait_is_bounded_and_unknown_executions_answer_at_once(api: Api) -> None:
    # When a client asks to wait longer than 25 s
    record_status, record_error = await api.execution("anything", params={"wait": "26"})
    logs_status, _ = await api.logs("anything", params={"after": "0", "wait": "26"})
    # Then both routes say 422, naming the parameter
    assert record_status == 422 and logs_status == 422 and "wait" in str(record_error)
    # And an unknown execution is 404 at once, however long the wait
    elapsed, status, _ = await timed(api.execution("nonexistent-id", params={"wait": "5"}))
    assert status == 404 and elapsed < 1


async def test_many_waiters_on_one_execution_cost_one_poll_per_interval(api: Api, run_queue) -> None:
    # Given a Pending execution and a count of every record read (a zero-latency rule of the storage fault seam)
    _, submitted = await api.execute("later", {"value": "crowd"})
    execution_id = submitted["execution_id"]
    watcher = (await get_runtime()).watcher
    try:
        with faults.injected([{"match": "table.ConduitExecutions.get", "fault": "latency", "latency_ms": 0}]) as rules:
            # When 50 clients wait 4 s on its record at once
            waits = [asyncio.ensure_future(timed(api.execution(execution_id, params={"wait": "4"})))
                     for _ in range(50)]
            for _ in range(50):
                if watcher.waiting() == 50:
                    break
                await asyncio.sleep(0.05)
            assert watcher.waiting() == 50
            before, started = rules[0].fired, time.monotonic()
            await asyncio.sleep(2)
            reads, seconds = rules[0].fired - before, time.monotonic() - started
            answers = await asyncio.gather(*waits)
        # Then while they wait storage sees about one record read per interval (0.5 s), not one per client
        assert reads <= seconds / watcher.interval + 1, reads
        # And every client got the unchanged record when its wait ran out
        assert all(status == 200 and body["status"] == "Pending" and took >= 3.5 for took, status, body in answers)
        assert watcher.waiting() == 0
    finally:
        assert await run_queue() >= 1
