"""`context.run_workflow`: another workflow called as a step of the running execution, under its own rules."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from shared import ExecutionContext, workflow
from shared.engine.core import Engine
from shared.errors import InputValidationError, WorkflowNotFoundError
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRequest, ExecutionStatus
from shared.storage.executions import ExecutionStore

registry = FunctionRegistry()
engine = Engine(registry)
release = threading.Event()
stop_stubborn = asyncio.Event()

with use_registry(registry):

    @workflow(name="greet")
    async def greet(context: ExecutionContext, name: str, times: int = 1):
        context.logger.info("greeting %s", name)
        return {"greeting": f"hello {name}", "times": times, "execution_id": context.execution_id}

    @workflow(name="stubborn", timeout_seconds=1)
    async def stubborn(context):
        while not stop_stubborn.is_set():  # swallows every cancellation, until the test releases it
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue

    @workflow(name="blocking", timeout_seconds=1)
    def blocking():
        release.wait(30)  # a sync function that blocks its thread
        return "woke"

    @workflow(name="caller", timeout_seconds=60)
    async def caller(context: ExecutionContext, target: str, inputs: dict | None = None):
        try:
            return {"value": await context.run_workflow(target, **(inputs or {}))}
        except (InputValidationError, WorkflowNotFoundError, TimeoutError) as error:
            return {"raised": type(error).__name__, "message": str(error),
                    "details": getattr(error, "details", None)}

    @workflow(name="short_caller", timeout_seconds=1)
    async def short_caller(context: ExecutionContext):
        return await context.run_workflow("greet_slowly")

    @workflow(name="greet_slowly", timeout_seconds=600)
    async def greet_slowly(context):
        await asyncio.sleep(30)


def run(name: str, **inputs: Any) -> Any:
    return engine.execute(ExecutionRequest(name=name, parameters=inputs, transient=True))


async def test_the_called_workflow_runs_as_a_step_of_this_execution_with_its_logs() -> None:
    # When a workflow calls another with valid input
    result = await run("caller", target="greet", inputs={"name": "Ada", "times": "2"})
    # Then it gets the value (input validated and coerced), in the same execution
    assert result.status is ExecutionStatus.SUCCESS
    assert result.result == {"value": {"greeting": "hello Ada", "times": 2, "execution_id": result.execution_id}}
    # And the call is a step of type workflow, and the called workflow's log line is attributed to it
    [step] = [s for s in result.steps if s["step_type"] == "workflow"]
    assert step["step_name"] == "greet" and step["status"] == "Success"
    assert step["input_data"] == {"name": "Ada", "times": "2"} and step["output_data"]["greeting"] == "hello Ada"
    [line] = [line for line in result.logs if "greeting" in line.message]
    assert (line.step_name, line.step_type, line.logger) == ("greet", "workflow", "workflow.greet")


async def test_bad_input_raises_the_validation_error_naming_every_field() -> None:
    result = await run("caller", target="greet", inputs={"times": "many", "extra": 1})
    assert result.status is ExecutionStatus.SUCCESS
    assert result.result["raised"] == "InputValidationError"
    assert {d["field"] for d in result.result["details"]} == {"name", "times", "extra"}
    [step] = [s for s in result.steps if s["step_type"] == "workflow"]
    assert step["status"] == "Failed" and step["error_message"].startswith("InputValidationError")


async def test_an_unknown_workflow_raises_workflow_not_found() -> None:
    result = await run("caller", target="nobody")
    assert result.result["raised"] == "WorkflowNotFoundError"


async def test_code_that_swallows_cancellation_does_not_hold_the_caller_past_its_timeout() -> None:
    # When the called workflow (timeout 1 s) ignores every cancellation
    started = time.monotonic()
    stop_stubborn.clear()
    try:
        result = await run("caller", target="stubborn")
    finally:
        stop_stubborn.set()  # the abandoned task ends, and the session's loop with it
    # Then the caller gets a TimeoutError after about a second (plus the grace period), not never
    assert result.result["raised"] == "WorkflowTimeoutError"
    assert result.result["message"] == "workflow 'stubborn' timed out after 1 seconds"
    assert time.monotonic() - started < 15


async def test_blocking_sync_code_runs_in_a_pool_thread_and_times_out() -> None:
    release.clear()
    try:
        result = await run("caller", target="blocking")
        assert result.result["raised"] == "WorkflowTimeoutError"
    finally:
        release.set()


async def test_the_call_is_bounded_by_what_is_left_of_the_callers_time() -> None:
    # When a workflow with 1 s calls one whose own timeout is 600 s and that takes 30 s
    started = time.monotonic()
    result = await run("short_caller")
    # Then the run ends by the caller's timeout, not 30 s later
    assert result.status in (ExecutionStatus.TIMEOUT, ExecutionStatus.FAILED)
    assert time.monotonic() - started < 15


async def test_a_persisted_call_is_a_stored_step(execution_store: ExecutionStore) -> None:
    local = Engine(registry, execution_store)
    request = ExecutionRequest(name="caller", parameters={"target": "greet", "inputs": {"name": "Bo"}})
    result = await local.execute(request)
    assert result.status is ExecutionStatus.SUCCESS
    rows = await execution_store.get_steps(request.execution_id)
    assert [(r["step_name"], r["step_type"], r["status"]) for r in rows] == [("greet", "workflow", "Success")]
    local.close()
