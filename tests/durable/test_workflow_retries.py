"""`@workflow(retry_policy=...)`: a failed Python workflow runs again — in place while a caller waits, through the
queue (Waiting, no worker held) when it was queued — each attempt a step with its error."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from shared import workflow
from shared.executions.service import WorkflowCall, submit
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import SYSTEM_CALLER, ExecutionStatus
from tests.durable.conftest import Host

registry = FunctionRegistry()
calls: Counter[str] = Counter()
failures_left: dict[str, int] = {}

with use_registry(registry):

    @workflow(name="flaky", retry_policy={"max_attempts": 3, "backoff": "exponential", "initial_delay_seconds": 1,
                                          "max_delay_seconds": 10, "jitter": 0.1})
    async def flaky(context, key: str):
        calls[key] += 1
        context.logger.info("attempt %d", calls[key])
        if failures_left.get(key, 0) > 0:
            failures_left[key] -= 1
            raise ConnectionError("service unavailable")
        return {"calls": calls[key]}

    @workflow(name="flaky_now", retry_policy={"max_attempts": 4, "backoff": "fixed", "initial_delay_seconds": 0.1})
    def flaky_now(key: str):
        calls[key] += 1
        if failures_left.get(key, 0) > 0:
            failures_left[key] -= 1
            raise TimeoutError("slow service")
        return calls[key]

    @workflow(name="slow_to_fail", timeout_seconds=2,
              retry_policy={"max_attempts": 5, "backoff": "fixed", "initial_delay_seconds": 0.8})
    def slow_to_fail(key: str):
        calls[key] += 1
        raise ConnectionError("down")

    @workflow(name="by_status", retry_policy={"max_attempts": 3, "initial_delay_seconds": 0.1, "retry_on": [503]})
    async def by_status(context, key: str, status: int):
        calls[key] += 1
        request = httpx.Request("GET", "https://example.test/")
        raise httpx.HTTPStatusError("bad", request=request, response=httpx.Response(status, request=request))


@pytest.fixture
async def host(host_for: Any) -> Host:
    return await host_for(registry)


def attempts(steps: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(s["status"], s["node_attempt"]) for s in steps if s["step_type"] == "attempt"]


async def test_a_queued_workflow_waits_for_its_retries_in_the_queue(host: Host, monkeypatch: Any) -> None:
    # Given a queued workflow that fails twice, with a backoff of about 1 s then 2 s parked in the queue
    monkeypatch.setenv("CONDUIT_PARK_AFTER_SECONDS", "0.5")
    key = uuid.uuid4().hex
    failures_left[key] = 2
    execution_id = await host.submit("flaky", key=key)
    # When a host works its queue
    paused, _ = await host.work(lambda r: r.status is ExecutionStatus.WAITING, execution_id)
    # Then between attempts it is Waiting for its retry, holding no worker, the last error shown
    assert paused.waiting is not None and paused.waiting["reason"] == "retry" and paused.lease_owner is None
    assert paused.error_type == "ConnectionError" and paused.retries == 1
    record, _ = await host.work(lambda r: r.status.is_terminal, execution_id)
    # And it ends Success on attempt 3, every attempt a step, the log lines of all three kept in order
    assert record.status is ExecutionStatus.SUCCESS and record.output_data == {"calls": 3}
    assert record.retries == 2 and record.attempt == 1
    steps = await host.store.get_steps(execution_id)
    assert attempts(steps) == [("Failed", 1), ("Failed", 2), ("Success", 3)]
    assert "ConnectionError: service unavailable" in steps[0]["error_message"]
    lines = [line.message for line in await host.store.get_logs(execution_id)]
    assert [m for m in lines if m in ("attempt 1", "attempt 2", "attempt 3")] == ["attempt 1", "attempt 2",
                                                                                 "attempt 3"]
    assert any(m.startswith("attempt 1 of 3 failed (ConnectionError); retrying in") for m in lines)


async def test_a_synchronous_run_retries_in_place_and_answers_once(host: Host) -> None:
    key = uuid.uuid4().hex
    failures_left[key] = 2
    submission = await submit(host.services, WorkflowCall("flaky_now", {"key": key}, caller=SYSTEM_CALLER,
                                                          wait=True))
    assert submission.result is not None
    assert submission.result.status is ExecutionStatus.SUCCESS and submission.result.result == 3
    assert attempts(submission.result.steps) == [("Failed", 1), ("Failed", 2), ("Success", 3)]


async def test_attempts_stop_at_max_attempts(host: Host) -> None:
    key = uuid.uuid4().hex
    failures_left[key] = 10
    submission = await submit(host.services, WorkflowCall("flaky_now", {"key": key}, caller=SYSTEM_CALLER,
                                                          wait=True))
    assert submission.result is not None and submission.result.status is ExecutionStatus.FAILED
    assert calls[key] == 4 and submission.result.error_type == "TimeoutError"


@pytest.mark.parametrize(("status", "runs"), [(503, 3), (400, 1)])
async def test_retry_on_names_http_statuses(host: Host, status: int, runs: int) -> None:
    key = uuid.uuid4().hex
    submission = await submit(host.services, WorkflowCall("by_status", {"key": key, "status": status},
                                                          caller=SYSTEM_CALLER, wait=True))
    assert submission.result is not None and submission.result.status is ExecutionStatus.FAILED
    assert calls[key] == runs


with use_registry(registry):

    @workflow(name="waits_in_python")
    async def waits_in_python(context):
        return await context.wait_for_event("approval", timeout=60)


async def test_a_python_workflow_is_told_that_durable_waits_live_in_dags(host: Host) -> None:
    submission = await submit(host.services, WorkflowCall("waits_in_python", {}, caller=SYSTEM_CALLER, wait=True))
    assert submission.result is not None and submission.result.status is ExecutionStatus.FAILED
    assert submission.result.error_type == "DurableWaitNotOffered"
    assert "wait_for_event" in (submission.result.error_message or "") and "DAG" in (
        submission.result.error_message or "")


async def test_attempts_made_in_place_share_the_runs_timeout(host: Host) -> None:
    # Given a sync workflow with a 2 s timeout that always fails, retried every 0.8 s up to 5 attempts
    key = uuid.uuid4().hex
    submission = await submit(host.services, WorkflowCall("slow_to_fail", {"key": key}, caller=SYSTEM_CALLER,
                                                          wait=True))
    # Then it stops when the next backoff would pass its timeout: 3 attempts (0, 0.8, 1.6 s), not 5
    assert submission.result is not None and submission.result.status is ExecutionStatus.FAILED
    assert calls[key] == 3
    assert any("past the run's timeout_seconds" in line.message for line in submission.result.logs)


def test_retry_on_names_the_built_in_errors_for_httpx_timeouts_and_network_failures() -> None:
    from shared.functions.retry_policy import RetryPolicy

    timeouts = RetryPolicy.model_validate({"max_attempts": 2, "retry_on": ["TimeoutError"]})
    network = RetryPolicy.model_validate({"max_attempts": 2, "retry_on": ["ConnectionError"]})
    assert timeouts.retries(httpx.ReadTimeout("slow")) and timeouts.retries(TimeoutError())
    assert not timeouts.retries(httpx.ConnectError("refused"))
    assert network.retries(httpx.ConnectError("refused")) and network.retries(ConnectionResetError())
    assert not network.retries(httpx.ReadTimeout("slow"))
