"""Running DAGs through the engine (transient executions): node types, edges, skips, errors, timeouts, loops."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from shared import UserError, workflow
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRequest, ExecutionStatus
from tests.dag.support import edge, node, node_steps, register_dag

registry = FunctionRegistry()
engine = Engine(registry)
active = {"now": 0, "most": 0}

with use_registry(registry):

    @workflow(name="add")
    async def add(context, a: int, b: int = 0):
        context.logger.info("adding %s and %s", a, b)
        return a + b

    @workflow(name="boom")
    async def boom(context):
        raise UserError("the directory said no")

    @workflow(name="nap")
    async def nap(context, seconds: float = 0.05, tag: str = ""):
        active["now"] += 1
        active["most"] = max(active["most"], active["now"])
        try:
            await asyncio.sleep(seconds)
        finally:
            active["now"] -= 1
        return tag

    register_dag(registry, "each_type", [
        node("t", "trigger"),
        node("sum", "action", workflow="add", input={"a": "{{ inputs.a }}", "b": 2}),
        node("fan", "parallel"),
        node("left", "transform", value={"side": "left", "sum": "{{ nodes.sum.output }}"}),
        node("right", "transform", template='{"side": "right", "n": {{ nodes.sum.output }}}'),
        node("both", "join", mode="all"),
        node("sw", "gateway_switch", expression="nodes.sum.output"),
        node("five", "transform", value="five"),
        node("other", "transform", value="other"),
    ], [edge("t", "sum"), edge("sum", "fan"), edge("fan", "left"), edge("fan", "right"), edge("left", "both"),
        edge("right", "both"), edge("both", "sw"), edge("sw", "five", "5"), edge("sw", "other", "default")])

    register_dag(registry, "join_any", [
        node("fan", "parallel"),
        node("slow", "action", workflow="nap", input={"seconds": 2, "tag": "slow"}),
        node("fast", "action", workflow="nap", input={"seconds": 0.01, "tag": "fast"}),
        node("first", "join", mode="any"),
    ], [edge("fan", "slow"), edge("fan", "fast"), edge("slow", "first"), edge("fast", "first")],
        output="{{ nodes.first.output }}")

    register_dag(registry, "switch_none", [
        node("sw", "gateway_switch", expression="'x'"),
        node("a", "transform", value=1),
        node("after", "transform", value="after a"),
    ], [edge("sw", "a", "y"), edge("a", "after")])

    register_dag(registry, "routed", [
        node("call", "action", workflow="boom"),
        node("ok", "transform", value="not reached"),
        node("handled", "transform", value={"caught": "{{ nodes.call.error.type }}: {{ nodes.call.error.message }}"}),
    ], [edge("call", "ok"), edge("call", "handled", on="error")])

    register_dag(registry, "unrouted", [
        node("fan", "parallel"),
        node("call", "action", workflow="boom"),
        node("long", "action", workflow="nap", input={"seconds": 30}),
        node("never", "transform", value=1),
    ], [edge("fan", "call"), edge("fan", "long"), edge("call", "never")])

    register_dag(registry, "slow_node", [
        node("wait", "action", timeout=0.3, workflow="nap", input={"seconds": 30}),
        node("late", "transform", value="timed out: {{ nodes.wait.error.message }}"),
    ], [edge("wait", "late", on="error")])

    register_dag(registry, "slow_unrouted", [node("wait", "action", timeout=0.3, workflow="nap",
                                                  input={"seconds": 30})], [])

    register_dag(registry, "nested", [
        node("rows", "loop_foreach", items="{{ inputs.grid }}", max_concurrency=2, body={"nodes": [
            node("cells", "loop_foreach", items="{{ item }}", body={"nodes": [
                node("cell", "transform", value="{{ item * 10 + index }}")]}),
        ], "edges": []}),
    ], [])

    register_dag(registry, "ordered", [
        node("each", "loop_foreach", items="{{ inputs.delays }}", max_concurrency=3, body={"nodes": [
            node("wait", "action", workflow="nap", input={"seconds": "{{ item }}", "tag": "{{ index }}"})]}),
    ], [])

    register_dag(registry, "counter", [
        node("count", "loop_while", condition="last is none or last < inputs.stop", max_iterations=5,
             body={"nodes": [node("next", "transform", value="{{ (last or 0) + 1 }}")]}),
    ], [])

    register_dag(registry, "result_rule", [
        node("fan", "parallel"), node("a", "transform", value=1), node("b", "transform", value=2),
    ], [edge("fan", "a"), edge("fan", "b")])

    register_dag(registry, "undefined_name", [node("t", "transform", value="{{ nodes_typo.x }}")], [])

    register_dag(registry, "inline_failure", [
        node("each", "loop_foreach", items=[1, 2, 0], body={"nodes": [
            node("div", "transform", value="{{ 6 // item }}")]}),
    ], [])


def run(name: str, **inputs: Any) -> Any:
    return engine.execute(ExecutionRequest(name=name, parameters=inputs, transient=True))


async def test_each_work_and_flow_type_runs_and_is_a_step() -> None:
    # When a DAG with a trigger, an action, a parallel fan-out, two transforms, a join and a switch runs
    result = await run("each_type", a=3)
    # Then the switch took the case of the action's value, and the run's result is the one non-skipped sink's
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    assert result.result == "five"
    steps = node_steps(result.steps)
    assert steps["t"]["output_data"] == {"a": 3}
    assert steps["sum"]["output_data"] == 5 and steps["sum"]["input_data"] == {"workflow": "add",
                                                                               "input": {"a": 3, "b": 2}}
    assert steps["both"]["output_data"] == {"left": {"side": "left", "sum": 5}, "right": {"side": "right", "n": 5}}
    assert steps["sw"]["output_data"] == {"value": 5, "case": "5"}
    assert steps["other"]["status"] == "Skipped"
    assert all(s["node_id"] == name and s["iteration"] == [] for name, s in steps.items())
    # And the action's log line is attributed to its node's step
    assert [line.step_name for line in result.logs if "adding" in line.message] == ["sum"]


async def test_the_switch_default_is_taken_for_other_values() -> None:
    result = await run("each_type", a=10)
    assert result.status is ExecutionStatus.SUCCESS and result.result == "other"
    assert node_steps(result.steps)["five"]["status"] == "Skipped"


async def test_a_join_any_starts_when_its_first_branch_ends() -> None:
    # When one branch takes 10 ms and the other 2 s
    result = await run("join_any")
    # Then the join's output holds the fast branch only (the run still waits for the slow one)
    assert result.status is ExecutionStatus.SUCCESS
    assert result.result == {"fast": "fast"}


async def test_a_switch_with_no_matching_case_skips_everything_after_it() -> None:
    result = await run("switch_none")
    assert result.status is ExecutionStatus.SUCCESS
    steps = node_steps(result.steps)
    assert steps["sw"]["output_data"] == {"value": "x", "case": None}
    assert steps["a"]["status"] == steps["after"]["status"] == "Skipped"
    assert result.result == {}  # no sink ran


async def test_an_error_edge_routes_the_failure_and_the_run_goes_on() -> None:
    # When an action fails and has an on:error edge
    result = await run("routed")
    # Then its success branch is skipped, the error branch reads the error, and the run succeeds
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    assert result.result == {"caught": "UserError: the directory said no"}
    steps = node_steps(result.steps)
    assert steps["call"]["status"] == "Failed" and steps["ok"]["status"] == "Skipped"
    assert steps["call"]["error"] == {"type": "UserError", "message": "the directory said no"}


async def test_an_unrouted_failure_fails_the_run_naming_the_node_and_cancels_the_rest() -> None:
    # When an action fails with no error edge while a 30 s sibling runs
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await run("unrouted")
    # Then the run fails at once, naming the node and its error; the sibling was cancelled, its successor never ran
    assert result.status is ExecutionStatus.FAILED
    assert result.error_type == "DagNodeFailed"
    assert result.error_message == "node 'call' (action) failed: UserError: the directory said no"
    assert loop.time() - started < 20
    steps = node_steps(result.steps)
    assert steps["long"]["status"] == "Cancelled" and "never" not in steps


async def test_a_node_timeout_fails_the_node_and_can_be_routed() -> None:
    result = await run("slow_node")
    assert result.status is ExecutionStatus.SUCCESS
    assert result.result == "timed out: node 'wait' timed out after 0.3 seconds"
    assert node_steps(result.steps)["wait"]["error"]["type"] == "NodeTimedOut"


async def test_an_unrouted_node_timeout_fails_the_run() -> None:
    result = await run("slow_unrouted")
    assert result.status is ExecutionStatus.FAILED
    assert result.error_message == "node 'wait' (action) failed: NodeTimedOut: node 'wait' timed out after 0.3 seconds"


async def test_nested_loops_give_outputs_in_item_order_with_their_iteration_paths() -> None:
    result = await run("nested", grid=[[1, 2], [3], []])
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    assert result.result == [[10, 21], [30], []]
    steps = node_steps(result.steps)
    assert steps["cell[0,1]"]["iteration"] == [0, 1] and steps["cell[0,1]"]["output_data"] == 21
    assert steps["cells[1]"]["iteration"] == [1] and steps["cells[1]"]["output_data"] == [30]


async def test_foreach_keeps_item_order_and_its_max_concurrency() -> None:
    # Given items that finish in reverse order, at most 3 at a time
    active["most"] = 0
    delays = [0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.01]
    result = await run("ordered", delays=delays)
    # Then the output is in item order and no more than 3 ran at once (and more than one did)
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    assert result.result == [str(i) for i in range(len(delays))]
    assert 2 <= active["most"] <= 3


async def test_a_loop_body_failure_names_the_inner_node_and_iteration() -> None:
    result = await run("inline_failure")
    assert result.status is ExecutionStatus.FAILED
    assert result.error_message is not None
    assert result.error_message.startswith("node 'each' (loop_foreach) failed: DagNodeFailed: node 'div' "
                                           "(transform) in iteration [2] failed: TemplateError")


async def test_while_stops_when_its_condition_fails_and_fails_past_max_iterations() -> None:
    # When the loop counts to 3 (within 5 iterations)
    done = await run("counter", stop=3)
    assert done.status is ExecutionStatus.SUCCESS and done.result == 3
    # When it would need 7
    over = await run("counter", stop=7)
    assert over.status is ExecutionStatus.FAILED
    assert over.error_message == ("node 'count' (loop_while) failed: LoopLimitError: loop_while 'count' reached "
                                  "max_iterations (5) with its condition still true")


async def test_several_sinks_give_a_mapping_and_output_template_wins() -> None:
    result = await run("result_rule")
    assert result.result == {"a": 1, "b": 2}


async def test_a_template_with_an_undefined_name_fails_the_node_clearly() -> None:
    result = await run("undefined_name")
    assert result.status is ExecutionStatus.FAILED
    assert result.error_message == ("node 't' (transform) failed: TemplateError: UndefinedError: 'nodes_typo' is "
                                    "undefined")


async def test_concurrency_is_bounded_per_run_without_deadlocking_nested_loops(monkeypatch) -> None:
    # Given a bound of 2 nodes per run and two nested loops (the loop nodes themselves must hold no slot)
    monkeypatch.setenv("CONDUIT_DAG_MAX_CONCURRENCY", "2")
    active["most"] = 0
    with use_registry(registry):
        register_dag(registry, "bounded", [
            node("outer", "loop_foreach", items="{{ [1, 2, 3] }}", max_concurrency=3, body={"nodes": [
                node("inner", "loop_foreach", items="{{ [1, 2, 3] }}", max_concurrency=3, body={"nodes": [
                    node("w", "action", workflow="nap", input={"seconds": 0.05})]})]}),
        ], [])
    # When it runs
    result = await asyncio.wait_for(run("bounded"), 30)
    # Then it finished, and no more than two naps ran at once
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    assert active["most"] == 2
    assert os.environ["CONDUIT_DAG_MAX_CONCURRENCY"] == "2"


def test_a_parameter_named_like_a_dict_method_is_read_as_the_parameter() -> None:
    from shared.dag.templates import render_value

    # Given inputs whose names are also methods of a dict (items, keys, values, get)
    inputs = {"items": [1, 2], "keys": "k", "values": 3, "get": "g"}
    # Then templates read the parameters, not the methods
    assert render_value("{{ inputs.items }}", {"inputs": inputs}) == [1, 2]
    assert render_value("{{ inputs.keys }}/{{ inputs.values }}/{{ inputs.get }}", {"inputs": inputs}) == "k/3/g"
