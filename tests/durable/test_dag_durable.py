"""Durable DAG executions: node retries (in place and through the queue), resume without repeating completed nodes
(in loops too), waiting for events, durable delays, rerun and resume from the failed node.

Each test runs queued executions through the worker a host runs, on Azurite, with a queue of its own."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from shared import workflow
from shared.errors import ConflictError, InputValidationError
from shared.executions.durable import deliver_event, rerun
from shared.executions.queries import cancel_execution, execution_detail
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import SYSTEM_CALLER, ExecutionStatus, utc_now
from shared.storage.queues import ExecutionMessage
from tests.dag.support import chain, edge, node, register_dag
from tests.durable.conftest import Host

registry = FunctionRegistry()
side_effects: Counter[str] = Counter()  # (run key, what) -> times it happened
failures_left: dict[str, int] = {}
gates: dict[str, asyncio.Event] = {}
hosts: list[Host] = []  # the current test's host, for workflows that call Conduit's services


def finished(record: Any) -> bool:
    return record.status.is_terminal


def waiting(record: Any) -> bool:
    return record.status is ExecutionStatus.WAITING


with use_registry(registry):

    @workflow(name="effect")
    async def effect(context, key: str, what: str = "effect"):
        """A side effect the test counts; fails while `failures_left[key]` says so."""
        side_effects[f"{key}:{what}"] += 1
        for name in (key, f"{key}:{what}"):
            if failures_left.get(name, 0) > 0:
                failures_left[name] -= 1
                raise ConnectionError(f"flaky service ({failures_left[name]} failures left)")
        return {"done": what}

    @workflow(name="refuse")
    async def refuse(context, key: str):
        side_effects[f"{key}:refuse"] += 1
        raise PermissionError("not allowed")

    @workflow(name="block")
    async def block(context, key: str, what: str):
        side_effects[f"{key}:{what}"] += 1
        await gates[key].wait()
        return what

    def act(node_id: str, what: str, **extra: Any) -> dict[str, Any]:
        return node(node_id, "action", workflow="effect", input={"key": "{{ inputs.key }}", "what": what}) | extra

    register_dag(registry, "retried_inline", [
        act("a", "a", retry={"max_attempts": 3, "backoff": "fixed", "initial_delay_seconds": 0.2}),
    ], [], parameters=[{"name": "key"}])

    register_dag(registry, "retried_queued", [
        node("first", "transform", value="before"),
        act("call", "call", retry={"max_attempts": 3, "backoff": "exponential", "initial_delay_seconds": 1,
                                   "max_delay_seconds": 5, "retry_on": ["ConnectionError"]}),
    ], chain("first", "call"), parameters=[{"name": "key"}])

    register_dag(registry, "retry_on_other", [
        node("call", "action", workflow="refuse", input={"key": "{{ inputs.key }}"})
        | {"retry": {"max_attempts": 3, "initial_delay_seconds": 0.1, "retry_on": ["ConnectionError", 503]}},
    ], [], parameters=[{"name": "key"}])

    register_dag(registry, "crashing", [
        act("a", "a"), act("b", "b"),
        node("c", "action", workflow="block", input={"key": "{{ inputs.key }}", "what": "c"}),
        act("d", "d"),
    ], chain("a", "b", "c", "d"), parameters=[{"name": "key"}])

    register_dag(registry, "crashing_loop", [
        node("each", "loop_foreach", items="{{ inputs.things }}", max_concurrency=1, body={
            "nodes": [node("work", "action", workflow="block", input={
                "key": "{{ inputs.key }}-{{ item }}", "what": "item{{ item }}"})],
            "edges": []}),
    ], [], parameters=[{"name": "key"}, {"name": "things", "type": "list"}])

    register_dag(registry, "approval", [
        act("ask", "ask"),
        node("approve", "wait_for_event", event="approval", timeout_seconds=600),
        node("after", "transform", value={"approved_by": "{{ nodes.approve.output.by }}"}),
        node("expired", "transform", value="too late"),
    ], [edge("ask", "approve"), edge("approve", "after"), edge("approve", "expired", "timeout")],
        parameters=[{"name": "key"}])

    register_dag(registry, "short_approval", [
        node("approve", "wait_for_event", event="approval", timeout_seconds=1),
        node("after", "transform", value="approved"),
        node("expired", "transform", value="too late"),
    ], [edge("approve", "after"), edge("approve", "expired", "timeout")])

    register_dag(registry, "sleepy", [
        act("before", "before"), node("pause", "delay", seconds=2), act("after", "after"),
    ], chain("before", "pause", "after"), parameters=[{"name": "key"}])

    register_dag(registry, "inner", [node("a", "transform", value="inner a")], [])
    register_dag(registry, "outer", [
        node("a", "transform", value="outer a"), node("call", "action", workflow="inner", input={}),
        node("pause", "delay", seconds=1), node("out", "transform", value="{{ nodes.a.output }}"),
    ], chain("a", "call", "pause", "out"))
    register_dag(registry, "inner_waits", [node("w", "wait_for_event", event="go")], [])
    register_dag(registry, "outer_of_waiting", [node("call", "action", workflow="inner_waits", input={})], [])

    register_dag(registry, "approvals_each", [
        node("each", "loop_foreach", items="{{ inputs.people }}", max_concurrency=20, body={
            "nodes": [node("ok", "wait_for_event", event="approval"),
                      node("row", "transform", value={"who": "{{ item }}", "by": "{{ nodes.ok.output.by }}"})],
            "edges": [edge("ok", "row")]}),
    ], [], parameters=[{"name": "people", "type": "list"}])

    @workflow(name="cancel_myself")
    async def cancel_myself(context):
        await cancel_execution(hosts[0].services, SYSTEM_CALLER, context.execution_id)
        return "asked"

    register_dag(registry, "cancelled_while_pausing", [
        node("stop", "action", workflow="cancel_myself", input={}),
        node("wait", "wait_for_event", event="never"),
    ], chain("stop", "wait"))

    register_dag(registry, "ticks", [
        node("each", "loop_foreach", items="{{ inputs.things }}", max_concurrency=1, body={
            "nodes": [node("tick", "wait_for_event", event="tick"),
                      node("row", "transform", value="{{ nodes.tick.output.n }}")],
            "edges": [edge("tick", "row")]}),
    ], [], parameters=[{"name": "things", "type": "list"}])

    register_dag(registry, "held_then_wait", [
        node("hold", "action", workflow="block", input={"key": "{{ inputs.key }}", "what": "hold"}),
        node("approve", "wait_for_event", event="approval"),
    ], chain("hold", "approve"), parameters=[{"name": "key"}])

    register_dag(registry, "flaky_middle", [act("a", "a"), act("b", "b"), act("c", "c")], chain("a", "b", "c"),
                 parameters=[{"name": "key"}])


@pytest.fixture
async def host(host_for: Any) -> Host:
    made = await host_for(registry)
    hosts[:] = [made]
    return made


@pytest.fixture
def park_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every wait of a second or more goes through the queue (the default parks only waits of 1 s or more)."""
    monkeypatch.setenv("CONDUIT_PARK_AFTER_SECONDS", "0.5")


def node_runs(steps: list[dict[str, Any]], node_id: str) -> list[dict[str, Any]]:
    return [s for s in steps if s["step_type"] == "dag_node" and s["node_id"] == node_id]


async def test_a_node_retry_with_a_short_backoff_runs_in_place_each_attempt_a_step(host: Host) -> None:
    # Given a node whose service fails twice and a retry policy of 3 attempts
    key = uuid.uuid4().hex
    failures_left[key] = 2
    # When the DAG runs
    execution_id = await host.submit("retried_inline", key=key)
    record, _ = await host.work(finished, execution_id)
    # Then it succeeds on the third attempt, each attempt a step with its node_attempt and error
    assert record.status is ExecutionStatus.SUCCESS
    runs = node_runs(await host.store.get_steps(execution_id), "a")
    assert [(s["status"], s["node_attempt"], s["attempt"]) for s in runs] == [
        ("Failed", 1, 1), ("Failed", 2, 1), ("Success", 3, 1)]
    assert "ConnectionError: flaky service" in runs[0]["error_message"] and runs[0]["retry_at"]
    assert side_effects[f"{key}:a"] == 3


async def test_a_long_backoff_waits_in_the_queue_and_the_node_before_is_not_run_again(
        host: Host, park_at_once: None) -> None:
    # Given a retried node after a completed one, and a backoff of 1 s then 2 s
    key = uuid.uuid4().hex
    failures_left[key] = 2
    execution_id = await host.submit("retried_queued", key=key)
    # When the worker runs it: the first failure pauses it, Waiting for its retry, no worker held
    paused, _ = await host.work(waiting, execution_id)
    assert paused.waiting is not None and paused.waiting["reason"] == "retry"
    assert paused.waiting["node_id"] == "call" and paused.lease_owner is None
    record, delivered = await host.work(finished, execution_id)
    # Then the execution ends Success after three attempts of the node, through the queue
    assert record.status is ExecutionStatus.SUCCESS and record.resumes == 2 and record.attempt == 1
    assert delivered >= 2  # each wake-up came through the queue
    steps = await host.store.get_steps(execution_id)
    assert [(s["status"], s["node_attempt"]) for s in node_runs(steps, "call")] == [
        ("Failed", 1), ("Failed", 2), ("Success", 3)]
    assert len(node_runs(steps, "first")) == 1  # ran once, reused by both continuations
    orders = [s["execution_order"] for s in steps]
    assert orders == sorted(set(orders))  # continuations number their steps after the stored ones


async def test_an_error_the_policy_does_not_name_is_not_retried(host: Host) -> None:
    key = uuid.uuid4().hex
    execution_id = await host.submit("retry_on_other", key=key)
    record, _ = await host.work(finished, execution_id)
    assert record.status is ExecutionStatus.FAILED and "PermissionError" in (record.error_message or "")
    assert side_effects[f"{key}:refuse"] == 1


async def _crash_while_blocked(host: Host, execution_id: str, key: str) -> None:
    """Run the execution until a `block` node is running, then stop it as a killed host would: nothing finishes,
    the record stays Running, and its lease runs out."""
    gates[key] = asyncio.Event()
    task = asyncio.ensure_future(host.work(finished, execution_id, seconds=30))
    for _ in range(200):
        if any(k.startswith(key) and k.endswith(("c", "item1")) for k in side_effects):
            break
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    record = await host.record(execution_id)
    assert record.status is ExecutionStatus.RUNNING, record.error_message
    await host.store.update(record, lease_expires_at=utc_now() - timedelta(seconds=1))
    gates[key].set()


async def test_a_takeover_after_a_crash_reuses_completed_nodes_so_their_side_effects_happen_once(
        host: Host) -> None:
    # Given a run that died while its third node ran (a and b had completed)
    key = uuid.uuid4().hex
    execution_id = await host.submit("crashing", key=key)
    await _crash_while_blocked(host, execution_id, key)
    # When another worker takes it over
    await host.services.queue.send(ExecutionMessage(execution_id, "GLOBAL"))
    record, _ = await host.work(finished, execution_id)
    # Then it ends Success in attempt 2, and a and b ran once each
    assert record.status is ExecutionStatus.SUCCESS and record.attempt == 2
    assert side_effects[f"{key}:a"] == 1 and side_effects[f"{key}:b"] == 1
    assert side_effects[f"{key}:c"] == 2  # the node that was running when the host died runs again
    assert side_effects[f"{key}:d"] == 1
    second = await host.store.get_steps(execution_id, attempt=2)
    assert [s["node_id"] for s in second] == ["c", "d"]
    # And the execution's detail shows every node's output, those attempt 2 reused from attempt 1 included
    shown = await execution_detail(host.services, SYSTEM_CALLER, execution_id)
    assert shown["node_outputs"] == {"a": {"done": "a"}, "b": {"done": "b"}, "c": "c", "d": {"done": "d"}}


async def test_a_takeover_inside_a_loop_does_not_run_completed_iterations_again(host: Host) -> None:
    # Given a foreach over 3 items (one at a time) that died during the second item
    key = uuid.uuid4().hex
    gates[f"{key}-0"] = asyncio.Event()
    gates[f"{key}-0"].set()
    gates[f"{key}-2"] = asyncio.Event()
    gates[f"{key}-2"].set()
    execution_id = await host.submit("crashing_loop", key=key, things=[0, 1, 2])
    await _crash_while_blocked(host, execution_id, f"{key}-1")
    # When it is taken over
    await host.services.queue.send(ExecutionMessage(execution_id, "GLOBAL"))
    record, _ = await host.work(finished, execution_id)
    # Then item 0 ran once, item 1 again (it was running), item 2 once; the result lists all three
    assert record.status is ExecutionStatus.SUCCESS and record.output_data == ["item0", "item1", "item2"]
    assert side_effects[f"{key}-0:item0"] == 1
    assert side_effects[f"{key}-1:item1"] == 2
    assert side_effects[f"{key}-2:item2"] == 1


async def test_wait_for_event_pauses_and_the_delivered_payload_is_its_output(host: Host) -> None:
    # Given a DAG that asks, then waits for an approval
    key = uuid.uuid4().hex
    execution_id = await host.submit("approval", key=key)
    paused, _ = await host.work(waiting, execution_id)
    # Then it is Waiting with the node's id and event, no lease, and no deadline but its own
    assert paused.waiting is not None
    assert (paused.waiting["reason"], paused.waiting["node_id"], paused.waiting["event"]) == (
        "event", "approve", "approval")
    assert paused.lease_owner is None and paused.deadline_at is not None
    assert paused.deadline_at > utc_now() + timedelta(seconds=500)
    # When a wrong event is delivered, nothing moves
    with pytest.raises(ConflictError):
        await deliver_event(host.services, SYSTEM_CALLER, execution_id, "rejection", {})
    with pytest.raises(InputValidationError):
        await deliver_event(host.services, SYSTEM_CALLER, execution_id, "bad name!", {})
    # And the right one is
    answer = await deliver_event(host.services, SYSTEM_CALLER, execution_id, "approval", {"by": "ana"})
    assert answer["status"] == "Pending"
    record, _ = await host.work(finished, execution_id)
    # Then the run went on from the wait: ask ran once, the payload became the node's output
    assert record.status is ExecutionStatus.SUCCESS and record.output_data == {"approved_by": "ana"}
    assert side_effects[f"{key}:ask"] == 1
    # And a second delivery is refused: it no longer waits
    with pytest.raises(ConflictError):
        await deliver_event(host.services, SYSTEM_CALLER, execution_id, "approval", {"by": "bo"})


async def test_a_wait_whose_time_runs_out_takes_its_timeout_edge(host: Host) -> None:
    execution_id = await host.submit("short_approval")
    record, _ = await host.work(finished, execution_id, seconds=30)
    assert record.status is ExecutionStatus.SUCCESS and record.output_data == "too late"
    steps = node_runs(await host.store.get_steps(execution_id), "approve")
    assert [s["status"] for s in steps] == ["Waiting", "Success"]
    assert steps[-1]["output_data"]["timed_out"] is True


async def test_a_delay_holds_no_worker_and_wakes_through_the_queue(host: Host, park_at_once: None) -> None:
    key = uuid.uuid4().hex
    execution_id = await host.submit("sleepy", key=key)
    paused, _ = await host.work(waiting, execution_id)
    assert paused.waiting is not None and paused.waiting["reason"] == "delay"
    record, _ = await host.work(finished, execution_id)
    assert record.status is ExecutionStatus.SUCCESS
    assert side_effects[f"{key}:before"] == 1 and side_effects[f"{key}:after"] == 1
    pause = node_runs(await host.store.get_steps(execution_id), "pause")[-1]
    assert pause["status"] == "Success" and pause["output_data"]["waited_seconds"] >= 1.5


async def test_cancelling_a_waiting_execution_ends_it_at_once(host: Host) -> None:
    execution_id = await host.submit("approval", key=uuid.uuid4().hex)
    await host.work(waiting, execution_id)
    record = await cancel_execution(host.services, SYSTEM_CALLER, execution_id)
    assert record.status is ExecutionStatus.CANCELLED and record.waiting is None
    with pytest.raises(ConflictError):
        await deliver_event(host.services, SYSTEM_CALLER, execution_id, "approval", {})


async def test_rerun_from_failed_reuses_the_nodes_before_the_failure(host: Host) -> None:
    # Given a run that failed at its second node (a ran)
    key = uuid.uuid4().hex
    failures_left[f"{key}:b"] = 1
    failed_run, _ = await host.work(finished, await host.submit("flaky_middle", key=key))
    assert failed_run.status is ExecutionStatus.FAILED
    # When it is rerun from the failed node
    again = await rerun(host.services, SYSTEM_CALLER, failed_run.id, from_failed=True)
    record, _ = await host.work(finished, again.execution_id)
    # Then the new execution is linked to it, reuses a, and runs b and c
    assert record.status is ExecutionStatus.SUCCESS
    assert (record.rerun_of, record.resume_from) == (failed_run.id, failed_run.id)
    assert side_effects[f"{key}:a"] == 1 and side_effects[f"{key}:b"] == 2 and side_effects[f"{key}:c"] == 1
    shown = await execution_detail(host.services, SYSTEM_CALLER, record.id)
    assert list(shown["node_outputs"]) == ["a", "b", "c"]  # a's output is the original's, which this run reused
    # And a plain rerun runs everything again, with the same input
    plain = await rerun(host.services, SYSTEM_CALLER, record.id)
    rerun_record, _ = await host.work(finished, plain.execution_id)
    assert rerun_record.status is ExecutionStatus.SUCCESS and rerun_record.input_data == {"key": key}
    assert rerun_record.rerun_of == record.id and rerun_record.resume_from is None
    assert side_effects[f"{key}:a"] == 2


async def test_a_running_execution_cannot_be_rerun(host: Host) -> None:
    execution_id = await host.submit("approval", key=uuid.uuid4().hex)
    await host.work(waiting, execution_id)
    with pytest.raises(ConflictError):
        await rerun(host.services, SYSTEM_CALLER, execution_id)


async def test_a_dag_called_by_an_action_node_is_part_of_its_step_and_never_resumed_alone(
        host: Host, park_at_once: None) -> None:
    # Given a DAG whose action node calls another DAG with a node of the same id, then pauses
    execution_id = await host.submit("outer")
    record, _ = await host.work(finished, execution_id)
    # Then after waking it reads its own node a, not the called DAG's
    assert record.status is ExecutionStatus.SUCCESS and record.output_data == "outer a"
    # And a called DAG that would wait fails its node, saying why, instead of pausing its caller
    record, _ = await host.work(finished, await host.submit("outer_of_waiting"))
    assert record.status is ExecutionStatus.FAILED and "cannot pause" in (record.error_message or "")


async def test_clean_up_leaves_a_waiting_execution_alone_until_its_wait_ends(host: Host) -> None:
    from shared.executions.cleanup import PENDING_GRACE, clean_up

    # Given an execution Waiting for an approval that may take 10 minutes
    execution_id = await host.submit("approval", key=uuid.uuid4().hex)
    paused, _ = await host.work(waiting, execution_id)
    assert paused.deadline_at is not None
    # When clean-up runs long after it started (past any timeout_seconds) but before its wait ends
    report = await clean_up(host.services, now=paused.deadline_at - timedelta(seconds=1))
    # Then it is left alone
    assert execution_id not in report.requeued + report.failed + report.timed_out + report.cancelled
    assert (await host.record(execution_id)).status is ExecutionStatus.WAITING
    # And once its wait ended (and the grace after it) with no wake-up seen, clean-up sends its wake-up again
    report = await clean_up(host.services, now=paused.deadline_at + PENDING_GRACE + timedelta(seconds=1))
    assert execution_id in report.requeued
    assert (await host.record(execution_id)).status is ExecutionStatus.WAITING


async def test_many_waits_in_a_loop_each_take_one_delivery(host: Host) -> None:
    # Given a loop whose 15 iterations all wait for an approval at once
    people = [f"p{i}" for i in range(15)]
    execution_id = await host.submit("approvals_each", people=people)
    paused, _ = await host.work(waiting, execution_id)
    # Then the record says what it waits for in a bounded shape, however many wait
    assert paused.waiting is not None and paused.waiting["event"] == "approval"
    assert paused.waiting["nodes_waiting"] == 15
    # When 15 approvals are delivered, one at a time as the execution waits again
    for n in range(15):
        answer = await deliver_event(host.services, SYSTEM_CALLER, execution_id, "approval", {"by": f"m{n}"})
        assert answer["status"] in ("Pending", "Running")
        await host.work(lambda r: r.status is not ExecutionStatus.PENDING and r.status is not ExecutionStatus.RUNNING,
                        execution_id)
    record = await host.record(execution_id)
    # Then every iteration took exactly one delivery
    assert record.status is ExecutionStatus.SUCCESS, record.error_message
    assert sorted(row["by"] for row in record.output_data) == sorted(f"m{n}" for n in range(15))
    assert [row["who"] for row in record.output_data] == people


async def test_a_cancel_that_comes_while_the_run_pauses_ends_it_cancelled(host: Host) -> None:
    # Given a DAG whose first node cancels its own execution, and whose next node would wait forever
    execution_id = await host.submit("cancelled_while_pausing")
    record, _ = await host.work(finished, execution_id)
    # Then it ends Cancelled instead of Waiting (and would never wake)
    assert record.status is ExecutionStatus.CANCELLED and record.waiting is None


async def test_a_from_failed_rerun_of_a_from_failed_rerun_reuses_the_first_runs_nodes(host: Host) -> None:
    # Given a run whose node b fails, and a from_failed rerun of it where b fails again
    key = uuid.uuid4().hex
    failures_left[f"{key}:b"] = 2
    first, _ = await host.work(finished, await host.submit("flaky_middle", key=key))
    again = await rerun(host.services, SYSTEM_CALLER, first.id, from_failed=True)
    second, _ = await host.work(finished, again.execution_id)
    assert (first.status, second.status) == (ExecutionStatus.FAILED, ExecutionStatus.FAILED)
    # When the second is rerun from its failed node
    third = await rerun(host.services, SYSTEM_CALLER, second.id, from_failed=True)
    record, _ = await host.work(finished, third.execution_id)
    # Then node a, completed by the first run, ran only then
    assert record.status is ExecutionStatus.SUCCESS
    assert side_effects[f"{key}:a"] == 1 and side_effects[f"{key}:b"] == 3 and side_effects[f"{key}:c"] == 1


async def test_events_sent_back_to_back_are_each_taken_by_one_wait(host: Host) -> None:
    # Given a loop whose three iterations each wait for a tick, one after the other, paused at the first
    execution_id = await host.submit("ticks", things=[1, 2, 3])
    await host.work(waiting, execution_id)
    # When three ticks are sent at once, without waiting for the execution to pause again in between
    answers = [await deliver_event(host.services, SYSTEM_CALLER, execution_id, "tick", {"n": n}) for n in (1, 2, 3)]
    # Then each is accepted, and each wait takes one, in the order they were sent
    assert [a["event"] for a in answers] == ["tick"] * 3
    record, _ = await host.work(finished, execution_id)
    assert record.status is ExecutionStatus.SUCCESS and record.output_data == [1, 2, 3]


async def test_an_event_sent_while_the_run_is_still_before_its_wait_is_taken_when_it_gets_there(host: Host) -> None:
    # Given a run held in its first node, before its wait_for_event
    key = uuid.uuid4().hex
    gates[key] = asyncio.Event()
    execution_id = await host.submit("held_then_wait", key=key)
    worker = asyncio.ensure_future(host.work(finished, execution_id))
    while side_effects[f"{key}:hold"] == 0:
        await asyncio.sleep(0.02)
    # When the approval is delivered while it runs
    answer = await deliver_event(host.services, SYSTEM_CALLER, execution_id, "approval", {"by": "early"})
    assert answer["status"] == "Running"
    gates[key].set()
    record, _ = await worker
    # Then its wait takes it when the run gets there
    assert record.status is ExecutionStatus.SUCCESS and record.output_data == {"by": "early"}
