"""The engine on its own (transient executions): statuses, validation, timeouts, log capture and scripts."""

import asyncio
import base64
import logging
import threading
import time
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared import ExecutionContext, UserError, get_context, param, workflow
from shared.engine.core import Engine
from shared.errors import ContextError, InputValidationError, WorkflowNotFoundError
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import Caller, ExecutionRequest, ExecutionResult, ExecutionStatus

registry = FunctionRegistry()
engine = Engine(registry)


class Gate:
    """Holds a sync workflow in its thread until the test opens it (or 30 s pass).

    Tests then prove what happened while the function was still running by the order of events, not by timing,
    which a busy machine stretches."""

    def __init__(self) -> None:
        self.entered, self.opened = threading.Event(), threading.Event()
        self.left: list[str] = []  # how each held call ended: "woke" (opened) or "gave up" (30 s passed)

    def hold(self) -> str:
        self.entered.set()
        outcome = "woke" if self.opened.wait(30) else "gave up"
        self.left.append(outcome)
        return outcome


gate = Gate()


def fresh_gate() -> None:
    """A new gate for this test: a thread an earlier test left held writes to its own gate, never to this one."""
    global gate
    gate = Gate()

with use_registry(registry):

    @workflow(name="typed")
    @param("count", type="int", required=True)
    @param("ratio", type="float")
    @param("enabled", type="bool")
    @param("tags", type="list")
    @param("payload", type="json")
    @param("owner", type="email")
    @param("label", type="string", default_value="none")
    async def typed(context: ExecutionContext, count, ratio=None, enabled=None, tags=None, payload=None,
                    owner=None, label=None):
        return {"count": count, "ratio": ratio, "enabled": enabled, "tags": tags, "payload": payload,
                "owner": owner, "label": label}

    @workflow(name="user_error")
    async def user_error(context):
        raise UserError("The license pool is empty; ask an admin to buy more.")

    @workflow(name="crash")
    async def crash(context):
        context.logger.info("about to fail")
        raise KeyError("missing")

    @workflow(name="partial")
    async def partial(context):
        return {"success": False, "error": "2 of 5 users failed"}

    @workflow(name="unserialisable")
    async def unserialisable(context):
        return {"when": object()}

    @workflow(name="async_sleeper", timeout_seconds=1)
    async def async_sleeper(context):
        context.logger.info("sleeping")
        await asyncio.sleep(60)

    @workflow(name="sync_blocker", timeout_seconds=1)
    def sync_blocker():
        return gate.hold()

    @workflow(name="sync_waiter", timeout_seconds=60)
    def sync_waiter():
        return gate.hold()

    @workflow(name="who_am_i")
    def who_am_i():
        ctx = get_context()
        return {"execution_id": ctx.execution_id, "user": ctx.user_id, "scope": ctx.scope}

    @workflow(name="kwargs")
    async def takes_kwargs(context, **options):
        return options

    @workflow(name="noisy")
    @param("marker", required=True)
    async def noisy(context, marker: str):
        """Logs its marker 100 times each from logging, print and a thread, interleaving with other executions."""
        def from_thread():
            for i in range(100):
                logging.getLogger("worker.thread").info("%s thread %d", marker, i)

        thread = threading.Thread(target=from_thread)
        thread.start()
        for i in range(100):
            logging.getLogger("some.library").warning("%s logging %d", marker, i)
            print(f"{marker} print {i}")
            if i % 10 == 0:
                await asyncio.sleep(0)
        await asyncio.to_thread(thread.join)
        return marker


def run(name: str, **parameters) -> Awaitable[ExecutionResult]:
    return engine.execute(ExecutionRequest(name=name, parameters=parameters, transient=True))


async def test_query_string_values_are_coerced() -> None:
    # When every typed parameter arrives as text, as from a query string or form
    result = await run("typed", count="3", ratio="0.5", enabled="true", tags="a, b", payload='{"k": [1]}',
                       owner=" Ada@Example.com ")
    # Then the function receives proper types, and the default fills the missing label
    assert result.status is ExecutionStatus.SUCCESS
    assert result.result == {"count": 3, "ratio": 0.5, "enabled": True, "tags": ["a", "b"], "payload": {"k": [1]},
                             "owner": "Ada@example.com", "label": "none"}


async def test_every_bad_field_is_reported_at_once_before_user_code_runs() -> None:
    with pytest.raises(InputValidationError) as caught:
        await run("typed", ratio="fast", enabled="perhaps", owner="not-an-email", extra=1)
    fields = {e["field"]: e["message"] for e in caught.value.details}
    assert set(fields) == {"count", "ratio", "enabled", "owner", "extra"}
    assert fields["count"] == "is required"
    assert "valid email" in fields["owner"] and "unknown parameter" in fields["extra"]


async def test_unknown_workflow_is_a_clear_error() -> None:
    with pytest.raises(WorkflowNotFoundError, match="No workflow named 'nope'"):
        await run("nope")


async def test_kwargs_functions_accept_any_parameter() -> None:
    result = await run("kwargs", anything="goes", n=1)
    assert result.result == {"anything": "goes", "n": 1}


async def test_user_error_fails_with_its_message() -> None:
    result = await run("user_error")
    assert result.status is ExecutionStatus.FAILED
    assert result.error_type == "UserError"
    assert result.error_message == "The license pool is empty; ask an admin to buy more."


async def test_exception_fails_with_type_and_traceback_line() -> None:
    result = await run("crash")
    assert (result.status, result.error_type, result.error_message) == (ExecutionStatus.FAILED, "KeyError", "'missing'")
    assert result.logs[0].message == "about to fail"
    last = result.logs[-1]
    assert last.level == "ERROR" and "Traceback" in last.message and "in crash" in last.message
    assert "shared/engine/layers.py" not in last.message  # the engine's own frames are left out


async def test_success_false_means_completed_with_errors() -> None:
    result = await run("partial")
    assert result.status is ExecutionStatus.COMPLETED_WITH_ERRORS
    assert result.error_message == "2 of 5 users failed" and result.result["success"] is False


async def test_unserialisable_result_fails_naming_the_type() -> None:
    result = await run("unserialisable")
    assert result.status is ExecutionStatus.FAILED and result.error_type == "ResultNotSerializable"
    assert "object" in result.error_message


async def test_async_timeout() -> None:
    # Given a workflow with a 1 s timeout that sleeps for 60 s
    started = time.perf_counter()
    # When it runs
    result = await run("async_sleeper")
    # Then it ends Timeout at its deadline: not before it, and long before the sleep would have ended (the upper
    # bound is generous: a busy machine delays the cancel, it does not turn 1 s into 30)
    assert result.status is ExecutionStatus.TIMEOUT
    assert result.error_message == "Execution timed out after 1 seconds"
    assert 0.9 < time.perf_counter() - started < 30
    assert [line.message for line in result.logs] == ["sleeping", "Execution timed out after 1 seconds"]


async def test_sync_timeout() -> None:
    # Given a sync workflow with a 1 s timeout that holds its thread until the test lets it go
    fresh_gate()
    started = time.perf_counter()
    try:
        # When it runs
        result = await run("sync_blocker")
        # Then it ends Timeout, no earlier than its deadline, while the function is still held in its thread:
        # the engine does not wait for a thread it cannot stop
        assert result.status is ExecutionStatus.TIMEOUT
        assert time.perf_counter() - started > 0.9
        assert gate.entered.is_set() and gate.left == []
    finally:
        gate.opened.set()


async def test_sleeping_sync_workflow_does_not_block_another() -> None:
    # Given a sync workflow held in its thread until the test lets it go
    fresh_gate()
    slow = asyncio.ensure_future(run("sync_waiter"))
    try:
        assert await asyncio.to_thread(gate.entered.wait, 30), "the sync workflow never started"
        # When another execution runs meanwhile
        quick = await asyncio.wait_for(run("typed", count=1), 30)
        # Then it finishes while the first is still held (order, not timing, proves they overlapped)
        assert quick.status is ExecutionStatus.SUCCESS
        assert not slow.done() and gate.left == []
    finally:
        gate.opened.set()
    # And the first finishes normally once let go
    assert (await slow).result == "woke"


async def test_get_context_inside_and_outside() -> None:
    caller = Caller(user_id="u-1", email="u@example.com", scope="org-7")
    result = await engine.execute(ExecutionRequest(name="who_am_i", caller=caller, transient=True))
    assert result.result == {"execution_id": result.execution_id, "user": "u-1", "scope": "org-7"}
    with pytest.raises(ContextError, match="outside of an execution"):
        get_context()


async def test_concurrent_executions_capture_only_their_own_lines() -> None:
    # Given 50 executions running at once, each logging its marker 100 times from logging, print and a thread
    markers = [f"m{i:02d}" for i in range(50)]
    results = await asyncio.gather(*(run("noisy", marker=m) for m in markers))
    # Then each captured exactly its own 300 lines
    for marker, result in zip(markers, results, strict=True):
        assert result.status is ExecutionStatus.SUCCESS
        assert len(result.logs) == 300
        assert all(line.message.startswith(f"{marker} ") for line in result.logs)
        sources = {line.logger for line in result.logs}
        assert sources == {"worker.thread", "some.library", "stdout"}
        assert [line.sequence for line in result.logs] == list(range(1, 301))


async def test_thread_pool_work_is_attributed_to_the_submitting_execution() -> None:
    pool = ThreadPoolExecutor(max_workers=1)
    registry_local = FunctionRegistry()
    with use_registry(registry_local):

        @workflow(name="pooled")
        @param("marker")
        async def pooled(context, marker: str):
            await asyncio.get_running_loop().run_in_executor(pool, logging.getLogger("pool").info, marker)

    local = Engine(registry_local)
    first, second = await asyncio.gather(
        *(local.execute(ExecutionRequest(name="pooled", parameters={"marker": m}, transient=True)) for m in "AB")
    )
    assert [line.message for line in first.logs] == ["A"]
    assert [line.message for line in second.logs] == ["B"]


def _b64(source: str) -> str:
    return base64.b64encode(source.encode()).decode()


async def test_inline_script_variables_and_result() -> None:
    code = _b64("import json\nfrom datetime import date\ntotal = base * 2\nwhen = date(2026, 1, 1)\n"
                "items = [1, 'two']\nprint('total', total)\nresult = {'total': total}\n")
    result = await engine.execute(ExecutionRequest(code=code, parameters={"base": 21}, transient=True))
    assert result.status is ExecutionStatus.SUCCESS
    assert result.result == {"total": 42}
    assert result.variables == {"total": 42, "when": "<date>", "items": [1, "two"], "result": {"total": 42}}
    assert [line.message for line in result.logs] == ["total 42"]


async def test_inline_script_with_top_level_await_and_context() -> None:
    code = _b64("import asyncio\nawait asyncio.sleep(0)\nwho = context.user_id\n")
    result = await engine.execute(ExecutionRequest(code=code, transient=True))
    assert result.variables == {"who": "system"}


@pytest.mark.parametrize(
    ("code", "message"),
    [("%%%", "is not valid base64"), (_b64("def broken(:\n"), "syntax error on line 1")],
)
async def test_script_that_cannot_run_is_invalid_input(code: str, message: str) -> None:
    with pytest.raises(InputValidationError) as caught:
        await engine.execute(ExecutionRequest(code=code, transient=True))
    assert caught.value.details[0]["field"] == "code" and message in caught.value.details[0]["message"]


async def test_script_exception_fails() -> None:
    result = await engine.execute(ExecutionRequest(code=_b64("x = 1\n1 / 0\n"), transient=True))
    assert (result.status, result.error_type) == (ExecutionStatus.FAILED, "ZeroDivisionError")
    assert "<script:script>" in result.logs[-1].message
