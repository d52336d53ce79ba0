"""DAG validation: each problem a definition can have is reported with its code and the node or edge it is about,
and all of them at once (shared.dag.validation)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shared import ExecutionContext, workflow
from shared.api.http import error_response
from shared.dag.definition import MAX_DEFINITION_BYTES, MAX_NODES
from shared.dag.validation import check_definition, definition_problems
from shared.errors import DagValidationError
from shared.functions.registry import FunctionRegistry, use_registry

REGISTRY = FunctionRegistry()
with use_registry(REGISTRY):

    @workflow(name="dag_check_echo")
    async def dag_check_echo(context: ExecutionContext, text: str = "") -> dict:
        return {"text": text}

    @workflow(name="slack_send_message")
    async def slack_send_message(context: ExecutionContext, channel: str, message: str) -> dict:
        return {"channel": channel}


def node(node_id: str, node_type: str = "transform", **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "data": data or ({"value": 1} if node_type == "transform" else {})}


def edge(source: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"source": source, "target": target, **extra}


def dag(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    return {"name": "checked", "nodes": nodes, "edges": edges or [], **fields}


def found(definition: dict[str, Any], registry: FunctionRegistry | None = REGISTRY) -> set[tuple[str, str]]:
    """(code, field) of every problem."""
    return {(p.code or "", p.field) for p in definition_problems(definition, registry)}


def codes(definition: dict[str, Any], registry: FunctionRegistry | None = REGISTRY) -> set[str]:
    return {code for code, _ in found(definition, registry)}


CHAIN = dag([node("a"), node("b"), node("c")], [edge("a", "b"), edge("b", "c")])


def test_a_sound_definition_has_no_problem_and_checks_to_the_parsed_definition() -> None:
    # Given a chain a -> b -> c whose templates read upstream outputs
    definition = copy.deepcopy(CHAIN)
    definition["nodes"][2]["data"] = {"value": "{{ nodes.a.output }} and {{ nodes.b.output }}"}
    # When it is checked / Then nothing is wrong and the parsed definition comes back
    assert definition_problems(definition, REGISTRY) == []
    assert [n.id for n in check_definition(definition, REGISTRY).nodes] == ["a", "b", "c"]


def test_no_start_node_when_every_node_has_an_incoming_edge_or_there_is_none() -> None:
    assert ("no_start_node", "nodes") in found(dag([node("a"), node("b")], [edge("a", "b"), edge("b", "a")]))
    assert found(dag([])) == {("no_start_node", "nodes")}


def test_cycle_names_the_nodes_on_it() -> None:
    # Given a start node and a cycle b -> c -> d -> b after it
    definition = dag([node("a"), node("b"), node("c"), node("d")],
                     [edge("a", "b"), edge("b", "c"), edge("c", "d"), edge("d", "b")])
    # When checked / Then one cycle problem names the path through its nodes
    [problem] = [p for p in definition_problems(definition, REGISTRY) if p.code == "cycle"]
    assert problem.field == "nodes.b" and "b -> c -> d -> b" in problem.message


def test_a_self_loop_is_a_cycle() -> None:
    assert ("cycle", "nodes.b") in found(dag([node("a"), node("b")], [edge("a", "b"), edge("b", "b")]))


def test_unreachable_node_when_a_trigger_is_the_only_entry() -> None:
    # Given a trigger and a node that only points into the graph (nothing leads to it from the trigger)
    definition = dag([node("t", "trigger"), node("a"), node("side")], [edge("t", "a"), edge("side", "a")])
    # Then that node is unreachable (it would never run)
    assert found(definition) == {("unreachable_node", "nodes.side")}


def test_disconnected_graph_names_each_separate_piece() -> None:
    definition = dag([node("a"), node("b"), node("x"), node("y"), node("lonely")], [edge("a", "b"), edge("x", "y")])
    assert found(definition) == {("disconnected_graph", "nodes.x"), ("disconnected_graph", "nodes.lonely")}


def test_duplicate_node_id_names_the_second_node_by_position_also_across_loop_bodies() -> None:
    assert ("duplicate_node_id", "nodes[1]") in found(dag([node("a"), node("a")]))
    body = {"nodes": [node("a")], "edges": []}
    definition = dag([node("a"), node("loop", "loop_foreach", items=[1], body=body)], [edge("a", "loop")])
    assert ("duplicate_node_id", "nodes.loop.data.body.nodes[0]") in found(definition)


def test_edge_missing_node_names_the_edge() -> None:
    definition = dag([node("a"), node("b")], [edge("a", "b"), edge("b", "ghost")])
    assert found(definition) == {("edge_missing_node", "edges[1]")}


def test_unknown_node_type() -> None:
    assert found(dag([node("a"), node("b", "llm_call")], [edge("a", "b")])) == {("unknown_node_type", "nodes.b.type")}


def test_unknown_action_for_workflow_and_for_the_seeds_tool_action_rule() -> None:
    # Given actions naming no registered workflow, by `workflow` and by the seed's tool + action
    definition = dag([node("a", "action", workflow="nope"), node("b", "action", tool="slack", action="post")],
                     [edge("a", "b")])
    # Then each is reported at the key that named it; the seed rule says which function it looked for
    problems = {p.field: p.message for p in definition_problems(definition, REGISTRY)}
    assert set(problems) == {"nodes.a.data.workflow", "nodes.b.data.tool"}
    assert "'slack_post'" in problems["nodes.b.data.tool"]
    # And the seed's own shape resolves: tool slack + action send_message is the workflow slack_send_message
    seed = dag([node("t", "trigger"), node("s", "action", tool="slack", action="send_message",
                                           input_template={"channel": "#c", "message": "{{ inputs.subject }}"})],
               [edge("t", "s")])
    assert found(seed) == set()


def test_unknown_action_is_not_checked_without_a_registry() -> None:
    assert found(dag([node("a", "action", workflow="nope")]), registry=None) == set()


def test_invalid_config_reports_each_wrong_field_of_data() -> None:
    # Given an http_request without url and with an unknown key, and a loop_while without max_iterations
    definition = dag([node("h", "http_request", method="GET", colour="red"),
                      node("w", "loop_while", condition="true", body={"nodes": [node("x")]})], [edge("h", "w")])
    problems = found(definition)
    assert {("invalid_config", "nodes.h.data.url"), ("invalid_config", "nodes.h.data.colour"),
            ("invalid_config", "nodes.w.data.max_iterations")} <= problems


def test_invalid_definition_still_checks_the_graph_that_parses() -> None:
    # Given a definition with a bad name, an unknown top-level key, an edge with a bad `on` and a cycle
    definition = dag([node("a"), node("b"), node("c")], [edge("a", "b"), edge("b", "c"), edge("c", "b"),
                                                         edge("a", "c", on="maybe")], name="no spaces allowed",
                     colour="blue")
    problems = found(definition)
    # Then the shape problems and the cycle are reported together
    assert {("invalid_definition", "name"), ("invalid_definition", "colour"),
            ("invalid_definition", "edges[3].on")} <= problems
    assert any(code == "cycle" for code, _ in problems)
    assert found([1, 2]) == {("invalid_definition", "definition")}  # type: ignore[arg-type]


def test_a_node_id_that_templates_cannot_read_is_invalid() -> None:
    assert ("invalid_definition", "nodes[0].id") in found(dag([node("has-dash")]))


def test_gateway_missing_labels_for_if_and_switch() -> None:
    # Given an if gateway with no labelled edge, and one with a label it can never choose
    unlabelled = dag([node("g", "gateway_if", condition="true"), node("a")], [edge("g", "a")])
    assert found(unlabelled) == {("gateway_missing_labels", "nodes.g"), ("gateway_missing_labels", "edges[0]")}
    wrong = dag([node("g", "gateway_if", condition="true"), node("a"), node("b")],
                [edge("g", "a", label="true"), edge("g", "b", label="maybe")])
    assert found(wrong) == {("gateway_missing_labels", "edges[1]")}
    # And a switch with one unlabelled edge next to labelled ones; an error edge needs no label
    switch = dag([node("s", "gateway_switch", expression="inputs.x"), node("a"), node("b"), node("e")],
                 [edge("s", "a", label="1"), edge("s", "b"), edge("s", "e", on="error")])
    assert found(switch) == {("gateway_missing_labels", "edges[1]")}


def test_join_too_few_inputs() -> None:
    assert found(dag([node("a"), node("j", "join")], [edge("a", "j")])) == {("join_too_few_inputs", "nodes.j")}


def test_template_syntax_in_template_fields_expressions_and_output() -> None:
    definition = dag([node("a", value="{{ inputs.x + }}"), node("g", "gateway_if", condition="inputs.x >"),
                      node("b"), node("c")],
                     [edge("a", "g"), edge("g", "b", label="true"), edge("g", "c", label="false")],
                     output={"result": "{% if %}"})
    assert {("template_syntax", "nodes.a.data.value"), ("template_syntax", "nodes.g.data.condition"),
            ("template_syntax", "output.result")} <= found(definition)


def test_undeclared_parameter_only_when_parameters_are_declared() -> None:
    nodes = [node("a", value={"x": "{{ inputs.subject }}", "y": "{{ inputs['body'] }}"})]
    declared = dag(nodes, parameters=[{"name": "subject"}])
    assert found(declared) == {("undeclared_parameter", "nodes.a.data.value.y")}
    assert found(dag(nodes)) == set()  # no parameters: any input is accepted (the seed's event payload)


def test_not_upstream_for_siblings_and_downstream_nodes() -> None:
    # Given a -> b and a -> c: c reads b (a sibling) and a reads c (downstream)
    definition = dag([node("a", value="{{ nodes.c.output }}"), node("b"), node("c", value="{{ nodes.b.output }}")],
                     [edge("a", "b"), edge("a", "c")])
    assert found(definition) == {("not_upstream", "nodes.a.data.value"), ("not_upstream", "nodes.c.data.value")}


def test_not_upstream_inside_a_loop_body_sees_the_body_and_the_loops_ancestors() -> None:
    # Given start -> loop -> after, and a body first -> second
    body = {"nodes": [node("first", value="{{ item }} {{ nodes.start.output }}"),
                      node("second", value="{{ nodes.first.output }} {{ index }} {{ nodes.after.output }}")],
            "edges": [edge("first", "second")]}
    definition = dag([node("start"), node("loop", "loop_foreach", items="{{ [1, 2] }}", body=body), node("after")],
                     [edge("start", "loop"), edge("loop", "after")])
    # Then reading the loop's ancestor and the body's own upstream is fine; a node after the loop is not upstream
    assert found(definition) == {("not_upstream", "nodes.loop.data.body.nodes.second.data.value")}


def test_loop_variable_outside_loop() -> None:
    definition = dag([node("a", value="{{ item }}"), node("b", value="{{ last }}")], [edge("a", "b")])
    assert found(definition) == {("loop_variable_outside_loop", "nodes.a.data.value"),
                                 ("loop_variable_outside_loop", "nodes.b.data.value")}


def test_unknown_variable_but_names_the_template_binds_are_fine() -> None:
    definition = dag([node("a", value="{{ input.x }}"),
                      node("b", template="{% set n = 2 %}{% for i in range(n) %}{{ loop.index }}{{ i }}{% endfor %}")],
                     [edge("a", "b")])
    assert found(definition) == {("unknown_variable", "nodes.a.data.value")}


def test_loop_while_condition_reads_last_and_index() -> None:
    body = {"nodes": [node("step", value="{{ index }}")]}
    definition = dag([node("w", "loop_while", condition="last is none or last < 3 and index < 10", body=body,
                           max_iterations=5)])
    assert found(definition) == set()


def test_too_large_by_bytes_and_by_nodes() -> None:
    # Given a definition over the size limit as compact JSON, and one with more nodes than allowed (bodies counted)
    big = dag([node("a", value="x" * MAX_DEFINITION_BYTES)])
    assert ("too_large", "definition") in found(big)
    many = [node(f"n{i}") for i in range(MAX_NODES)]
    body = {"nodes": [node("inner")]}
    crowded = dag([*many, node("loop", "loop_foreach", items=[1], body=body)],
                  [edge(f"n{i}", f"n{i + 1}") for i in range(MAX_NODES - 1)] + [edge(f"n{MAX_NODES - 1}", "loop")])
    assert found(crowded) == {("too_large", "nodes")}


def test_multiple_triggers_and_a_trigger_with_inputs() -> None:
    definition = dag([node("t1", "trigger"), node("t2", "trigger"), node("a")],
                     [edge("t1", "a"), edge("t2", "a"), edge("a", "t1")])
    problems = found(definition)
    assert ("multiple_triggers", "nodes.t2") in problems and ("trigger_has_inputs", "nodes.t1") in problems


def test_invalid_schedule_cron_and_inputs_that_do_not_make_a_call() -> None:
    assert found(dag([node("a")], schedule="every day")) == {("invalid_schedule", "schedule")}
    # Given a schedule whose runs would miss a required parameter
    required = dag([node("a")], parameters=[{"name": "city", "required": True}],
                   schedule={"cron": "0 6 * * *", "inputs": {}})
    assert found(required) == {("invalid_schedule", "schedule.inputs.city")}
    fine = dag([node("a")], parameters=[{"name": "city", "required": True}],
               schedule={"cron": "0 6 * * *", "timezone": "Europe/Paris", "inputs": {"city": "Paris"}})
    assert found(fine) == set()


def test_loop_bodies_are_checked_as_graphs_of_their_own() -> None:
    # Given a loop whose body has a cycle and an empty nested loop body
    body = {"nodes": [node("x"), node("y"), node("inner", "loop_foreach", items=[1], body={"nodes": []})],
            "edges": [edge("x", "y"), edge("y", "x"), edge("y", "inner")]}
    problems = found(dag([node("loop", "loop_foreach", items=[1], body=body)]))
    assert ("cycle", "nodes.loop.data.body.nodes.x") in problems
    assert ("no_start_node", "nodes.loop.data.body.nodes") in problems
    assert ("no_start_node", "nodes.loop.data.body.nodes.inner.data.body.nodes") in problems


def test_all_problems_at_once_in_one_422() -> None:
    # Given a definition with a dozen different mistakes
    definition = dag(
        [node("t", "trigger"), node("a", "action", workflow="missing_wf", input={"x": "{{ nodes.z.output }}"}),
         node("a", value=1), node("g", "gateway_if", condition="{{ item }}"), node("j", "join"),
         node("z", "mystery"), node("h", "http_request")],
        [edge("t", "a"), edge("a", "g"), edge("g", "j"), edge("j", "nowhere")],
        parameters=[{"name": "subject"}], schedule="bad", output="{{ inputs.body }}")
    # When it is checked
    with pytest.raises(DagValidationError) as raised:
        check_definition(definition, REGISTRY)
    # Then one error lists every problem, each with its code
    error = raised.value
    assert {e.code for e in error.errors} >= {
        "duplicate_node_id", "edge_missing_node", "unknown_action", "not_upstream", "gateway_missing_labels",
        "loop_variable_outside_loop", "join_too_few_inputs", "unknown_node_type", "invalid_config",
        "invalid_schedule", "undeclared_parameter", "disconnected_graph"}
    # And over HTTP it is a 422 whose details carry field, message and code
    response = error_response(error)
    assert response.status_code == 422
    body = json.loads(response.get_body())
    assert body["error"]["code"] == "dag_invalid"
    assert {"field": "nodes.a.data.workflow", "code": "unknown_action"}.items() <= next(
        d for d in body["error"]["details"] if d["code"] == "unknown_action").items()
