"""User code must not be able to break the engine: deadlines and cancels without cooperation, BaseExceptions,
threads that do not return, a full pool, abandoned work and recycling."""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from shared import get_context, workflow
from shared.engine import abandoned, recycling
from shared.engine.core import Engine
from shared.engine.recycling import RECYCLE_EXIT_CODE, Recycler
from shared.errors import HostRecyclingError
from shared.executions.services import Services
from shared.executions.worker import process_message
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRequest, ExecutionResult, ExecutionStatus
from shared.storage import ExecutionStore
from shared.storage.queues import ExecutionMessage

registry = FunctionRegistry()
engine = Engine(registry)
released = threading.Event()  # lets the stubborn workflows finally stop, at the end of each test
ran: list[str] = []


async def _swallow_cancellation(context) -> str:
    """A retry loop that catches CancelledError and tries again, until the test releases it."""
    while not released.is_set():
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            print("cancelled; retrying")  # lands nowhere once the execution has ended
    return "stopped at last"


with use_registry(registry):

    @workflow(name="stubborn", timeout_seconds=1)
    async def stubborn(context):
        ran.append(context.execution_id)
        return await _swallow_cancellation(context)

    @workflow(name="stubborn_patient", timeout_seconds=120)
    async def stubborn_patient(context):
        ran.append(context.execution_id)
        return await _swallow_cancellation(context)

    @workflow(name="late", timeout_seconds=1)
    async def late(context):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # tidies up, then returns normally: after its deadline
        return "finished late"

    @workflow(name="blocks_then_returns", timeout_seconds=1)
    async def blocks_then_returns(context):
        time.sleep(1.3)  # blocking code that never awaits, on the event loop
        return "done"

    @workflow(name="sync_sleep", timeout_seconds=1)
    def sync_sleep(seconds: float):
        ran.append(f"sync_sleep {seconds}")
        time.sleep(seconds)
        return f"slept {seconds}"

    @workflow(name="sync_sleep_patient", timeout_seconds=120)
    def sync_sleep_patient(seconds: float):
        time.sleep(seconds)
        return f"slept {seconds}"

    @workflow(name="sync_sleep_two", timeout_seconds=2)
    def sync_sleep_two(seconds: float):
        time.sleep(seconds)
        return f"slept {seconds}"

    @workflow(name="sync_held", timeout_seconds=1)
    def sync_held():
        """Holds its thread until the test releases it (or 30 s pass): "still running" by order, not by timing."""
        ran.append(get_context().execution_id)
        return "let go" if released.wait(30) else "gave up"

    @workflow(name="sync_held_patient", timeout_seconds=120)
    def sync_held_patient():
        ran.append(get_context().execution_id)
        return "let go" if released.wait(30) else "gave up"

    @workflow(name="exits_at_once")
    async def exits_at_once(context):
        sys.exit(3)

    @workflow(name="exits_after_awaiting")
    async def exits_after_awaiting(context):
        await asyncio.sleep(0.01)
        sys.exit(3)

    @workflow(name="exits_in_thread")
    def exits_in_thread():
        sys.exit(3)

    @workflow(name="interrupted")
    async def interrupted(context):
        await asyncio.sleep(0)
        raise KeyboardInterrupt

    @workflow(name="interrupted_in_thread")
    def interrupted_in_thread():
        raise KeyboardInterrupt

    @workflow(name="generator_exit")
    async def generator_exit(context):
        raise GeneratorExit

    @workflow(name="cli")
    def cli():
        parser = argparse.ArgumentParser(prog="cli")
        parser.add_argument("--count", type=int, required=True)
        parser.parse_args(["--count", "many"])

    @workflow(name="quick")
    async def quick(context, seconds: float = 0.0):
        await asyncio.sleep(seconds)
        return "fine"


def run(name: str, on: Engine = engine, **parameters) -> asyncio.Future[ExecutionResult]:
    return asyncio.ensure_future(on.execute(ExecutionRequest(name=name, parameters=parameters, transient=True)))


def script(source: str) -> str:
    return base64.b64encode(source.encode()).decode()


async def eventually(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.fixture(autouse=True)
async def release_stubborn_code(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Each test starts with no abandoned work of its own and ends by letting its stubborn code stop."""
    monkeypatch.setenv("CONDUIT_ABANDON_GRACE_SECONDS", "0.5")
    released.clear()
    yield
    released.set()
    await eventually(lambda: abandoned.registry.total() == 0)


@pytest.fixture
def own_recycler() -> Iterator[list[str]]:
    """A recycler with a threshold of 2 and a fake host hook; yields the reasons the hook was called with."""
    calls: list[str] = []
    previous = recycling.install(Recycler(max_abandoned=2))
    recycling.set_recycle_hook(calls.append)
    try:
        yield calls
    finally:
        recycling.install(previous)


# --- deadlines that do not depend on cooperation -------------------------------------------------------------


async def test_swallowed_cancellation_ends_timeout_on_time_and_the_task_is_abandoned(caplog) -> None:
    # Given a workflow (timeout 1 s) whose retry loop catches every CancelledError
    started = time.monotonic()
    # When it runs
    result = await run("stubborn")
    # Then it ends Timeout, not Success whenever it pleases: the code never stops by itself, so ending at all proves
    # it; the bound is generous (a busy machine delays the ending, it does not turn 1.5 s into 30)
    assert result.status is ExecutionStatus.TIMEOUT
    assert result.error_message == "Execution timed out after 1 seconds"
    assert time.monotonic() - started < 30
    # And its task, still running, is counted and logged as abandoned, naming the execution and the function
    assert abandoned.counts()["tasks"] == 1
    assert f"abandoned the task of execution {result.execution_id} (stubborn" in caplog.text
    # And what it prints afterwards is not added to the finished execution
    lines = len(result.logs)
    await asyncio.sleep(0.3)
    assert len(result.logs) == lines
    # And once it does stop, it is no longer counted
    released.set()
    await eventually(lambda: abandoned.counts()["tasks"] == 0)


async def test_a_normal_return_after_the_deadline_is_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a workflow that, cancelled at its deadline, tidies up (0.2 s) and returns normally, well within the
    # grace period (5 s here, so a busy machine cannot stretch the tidying past it)
    monkeypatch.setenv("CONDUIT_ABANDON_GRACE_SECONDS", "5")
    result = await run("late")
    # Then the late return does not count: Timeout, and nothing is abandoned (it ended within the grace period)
    assert (result.status, result.result) == (ExecutionStatus.TIMEOUT, None)
    assert abandoned.registry.total() == 0


async def test_blocking_async_code_that_returns_after_its_deadline_is_a_timeout() -> None:
    # Given an async workflow that blocks the loop for 1.3 s (timeout 1 s) and then returns without awaiting
    result = await run("blocks_then_returns")
    # Then its result came too late
    assert result.status is ExecutionStatus.TIMEOUT


async def test_cancel_of_code_that_swallows_cancellation_ends_cancelled_promptly() -> None:
    # Given a running execution whose code catches every CancelledError (timeout 120 s)
    invocation = engine.prepare(ExecutionRequest(name="stubborn_patient", transient=True))
    running = asyncio.ensure_future(engine.run(invocation))
    await eventually(lambda: invocation.context.execution_id in ran)
    # When a cancel is requested from another thread, as the supervisor does
    loop = asyncio.get_running_loop()
    asked = time.monotonic()
    threading.Thread(target=loop.call_soon_threadsafe, args=(invocation.request_cancel,)).start()
    result = await running
    # Then it ends Cancelled (the code never stops by itself; the bound is generous, its timeout is 120 s), and its
    # task is abandoned
    assert (result.status, result.error_message) == (ExecutionStatus.CANCELLED, "Execution cancelled by user")
    assert time.monotonic() - asked < 30
    assert abandoned.counts()["tasks"] == 1


async def test_a_cancel_requested_before_the_run_starts_means_the_code_never_runs() -> None:
    invocation = engine.prepare(ExecutionRequest(name="stubborn_patient", transient=True))
    invocation.request_cancel()
    result = await engine.run(invocation)
    assert result.status is ExecutionStatus.CANCELLED
    assert invocation.context.execution_id not in ran


async def test_cancel_of_a_sync_execution_ends_cancelled_and_its_thread_is_counted_until_it_returns() -> None:
    # Given a sync workflow running in its thread, held there until the test releases it
    invocation = engine.prepare(ExecutionRequest(name="sync_held_patient", transient=True))
    running = asyncio.ensure_future(engine.run(invocation))
    await eventually(lambda: invocation.context.execution_id in ran)
    # When it is cancelled
    invocation.request_cancel()
    result = await running
    # Then it is Cancelled while the function still runs, and its thread is counted as abandoned
    assert result.status is ExecutionStatus.CANCELLED
    assert abandoned.counts()["threads"] == 1
    # And no longer once the function returns
    released.set()
    await eventually(lambda: abandoned.counts()["threads"] == 0)


# --- BaseExceptions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error_type", "message"),
    [
        ("exits_at_once", "SystemExit", "SystemExit: 3"),
        ("exits_after_awaiting", "SystemExit", "SystemExit: 3"),
        ("exits_in_thread", "SystemExit", "SystemExit: 3"),
        ("interrupted", "KeyboardInterrupt", "KeyboardInterrupt"),
        ("interrupted_in_thread", "KeyboardInterrupt", "KeyboardInterrupt"),
        ("generator_exit", "GeneratorExit", "GeneratorExit"),
        ("cli", "SystemExit", "SystemExit: 2"),
    ],
)
async def test_base_exceptions_from_user_code_fail_the_execution_and_the_engine_carries_on(
    name: str, error_type: str, message: str
) -> None:
    # Given an execution running beside one whose code raises SystemExit / KeyboardInterrupt / GeneratorExit
    beside = run("quick", seconds=0.3)
    # When it runs
    result = await run(name)
    # Then it is Failed with the exception's type, and the traceback is in its logs
    assert (result.status, result.error_type, result.error_message) == (ExecutionStatus.FAILED, error_type, message)
    assert error_type in result.logs[-1].message
    # And the execution beside it and the next one run normally
    assert (await beside).status is ExecutionStatus.SUCCESS
    assert (await run("quick")).status is ExecutionStatus.SUCCESS


async def test_argparse_usage_error_is_in_the_logs() -> None:
    result = await run("cli")
    assert any("invalid int value: 'many'" in line.message for line in result.logs)


@pytest.mark.parametrize(
    ("source", "error_type"),
    [
        ("import sys\nsys.exit(3)\n", "SystemExit"),
        ("import asyncio, sys\nawait asyncio.sleep(0)\nsys.exit(3)\n", "SystemExit"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    ],
)
async def test_inline_scripts_that_exit_fail(source: str, error_type: str) -> None:
    result = await engine.execute(ExecutionRequest(code=script(source), transient=True))
    assert (result.status, result.error_type) == (ExecutionStatus.FAILED, error_type)
    assert (await run("quick")).status is ExecutionStatus.SUCCESS


# --- sync code in threads ------------------------------------------------------------------------------------


async def test_a_sync_execution_s_clock_starts_when_its_thread_starts() -> None:
    # Given a one-thread pool whose thread is busy for 1.2 s with work the engine did not start
    local = Engine(registry, sync_workers=1)
    local.threads._executor.submit(time.sleep, 1.2)
    started = time.monotonic()
    # When a sync workflow with a 2 s timeout that needs 1.2 s is started meanwhile (each part leaves 0.8 s spare)
    result = await run("sync_sleep_two", on=local, seconds=1.2)
    # Then it succeeds although waiting and running took longer than its timeout: its clock started with the thread
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    assert time.monotonic() - started > 2
    local.close()


async def test_a_sync_execution_that_never_gets_a_thread_fails_without_running() -> None:
    # Given a one-thread pool whose thread is busy for 2.5 s with work the engine did not start
    local = Engine(registry, sync_workers=1)
    local.threads._executor.submit(time.sleep, 2.5)
    # When a sync workflow with a 1 s timeout is started meanwhile
    result = await run("sync_sleep", on=local, seconds=0.123)
    # Then after its timeout it fails with a clear error, and it never runs, even once the thread is free
    assert (result.status, result.error_type) == (ExecutionStatus.FAILED, "CapacityExceeded")
    assert "never ran" in result.error_message and "CONDUIT_SYNC_WORKERS" in result.error_message
    await asyncio.sleep(2)
    assert "sync_sleep 0.123" not in ran
    local.close()


async def test_a_full_pool_fails_a_new_sync_execution_fast_and_abandoned_threads_are_counted(caplog) -> None:
    local = Engine(registry, sync_workers=1)
    # Given a sync execution that timed out (1 s) while its thread is still held by its code
    timed_out = await run("sync_held", on=local)
    assert timed_out.status is ExecutionStatus.TIMEOUT
    # Then its thread is counted and logged as abandoned
    assert abandoned.counts()["threads"] == 1
    assert f"abandoned the thread of execution {timed_out.execution_id} (sync_held" in caplog.text
    # When another sync execution (timeout 120 s) is started while the only thread is held
    started = time.monotonic()
    refused = await run("sync_sleep_patient", on=local, seconds=0.1)
    # Then it fails at once with a clear error naming the setting, instead of waiting out its 120 s timeout without
    # having run (the bound is generous and still far below that)
    assert (refused.status, refused.error_type) == (ExecutionStatus.FAILED, "CapacityExceeded")
    assert "CONDUIT_SYNC_WORKERS" in refused.error_message
    assert "1 of them held by timed-out or cancelled executions" in refused.error_message
    assert time.monotonic() - started < 30
    # And once the abandoned thread returns, sync executions run again
    released.set()
    await eventually(lambda: abandoned.counts()["threads"] == 0)
    assert (await run("sync_sleep", on=local, seconds=0.1)).status is ExecutionStatus.SUCCESS
    local.close()


# --- recycling -----------------------------------------------------------------------------------------------


async def test_past_the_threshold_the_host_hook_is_called_and_new_work_is_refused(own_recycler) -> None:
    # Given a recycle threshold of 2 abandoned tasks and a host hook
    # When two executions abandon tasks that will not stop
    first, second = await asyncio.gather(run("stubborn"), run("stubborn"))
    assert first.status is second.status is ExecutionStatus.TIMEOUT
    # Then the host's hook is asked, once, to replace the process
    assert len(own_recycler) == 1 and "CONDUIT_MAX_ABANDONED=2" in own_recycler[0]
    # And the host takes no new work: executions are refused (503 over HTTP) and queue messages are not taken
    assert not recycling.accepting_work()
    with pytest.raises(HostRecyclingError):
        await engine.execute(ExecutionRequest(name="quick", transient=True))
    with pytest.raises(HostRecyclingError):
        # (no storage is touched: the services are never used)
        unused = Services(registry=registry, store=None, engine=engine, queue=None)  # type: ignore[arg-type]
        await process_message(unused, ExecutionMessage("some-execution", "GLOBAL").encode())


async def test_without_a_host_hook_the_process_exits_once_in_flight_executions_finish() -> None:
    exits: list[int] = []
    recycler = Recycler(max_abandoned=1, drain_seconds=30, exit_process=exits.append)
    recycler.in_flight = 1
    # When recycling is needed while one execution is still in flight
    recycler.note_abandoned(1)
    await asyncio.sleep(0.5)
    # Then the process waits for it
    assert exits == [] and not recycler.accepting
    # And exits with the recycle code once it finished
    recycler.in_flight = 0
    await eventually(lambda: exits == [RECYCLE_EXIT_CODE])


# --- under persistence ---------------------------------------------------------------------------------------


@pytest.fixture
async def persisted_engine(storage_connection_string: str) -> AsyncIterator[Engine]:
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        await store.ensure_tables()
        yield Engine(registry, store)


async def test_swallowed_cancellation_under_persistence_finishes_the_record_and_releases_the_lease(
    persisted_engine: Engine,
) -> None:
    # Given a persisted execution of code that swallows cancellation (timeout 1 s)
    started = time.monotonic()
    result = await persisted_engine.execute(ExecutionRequest(name="stubborn"))
    # Then it ends Timeout (the code never stops by itself; the bound is generous), and its record is terminal with
    # the lease released
    assert result.status is ExecutionStatus.TIMEOUT and time.monotonic() - started < 30
    assert persisted_engine.store is not None
    record = await persisted_engine.store.get("GLOBAL", result.execution_id)
    assert record is not None
    assert (record.status, record.lease_owner, record.lease_expires_at) == (ExecutionStatus.TIMEOUT, None, None)


async def test_a_cancel_from_storage_stops_code_that_swallows_cancellation(persisted_engine: Engine) -> None:
    store = persisted_engine.store
    assert store is not None
    # Given a persisted execution of code that swallows cancellation (timeout 120 s)
    before = len(ran)
    running = asyncio.ensure_future(persisted_engine.execute(ExecutionRequest(name="stubborn_patient")))
    await eventually(lambda: len(ran) > before)
    execution_id = ran[-1]
    record = await store.get("GLOBAL", execution_id)
    assert record is not None
    # When a cancel is requested through storage, as the cancel endpoint does on any host
    await store.update(record, status=ExecutionStatus.CANCELLING)
    result = await asyncio.wait_for(running, 15)
    # Then it ends Cancelled and the record is terminal with the lease released
    assert result.status is ExecutionStatus.CANCELLED
    final = await store.get("GLOBAL", execution_id)
    assert final is not None and (final.status, final.lease_owner) == (ExecutionStatus.CANCELLED, None)

