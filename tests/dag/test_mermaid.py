"""The Mermaid drawing of a DAG: shapes by node type, loops as subgraphs, dashed error edges, safe labels."""

from __future__ import annotations

from shared.dag.definition import DagDefinition
from shared.dag.mermaid import to_mermaid


def drawing(nodes: list[dict], edges: list[dict]) -> list[str]:
    return to_mermaid(DagDefinition.model_validate({"name": "drawn", "nodes": nodes, "edges": edges})).splitlines()


def test_shapes_follow_the_node_type_and_ids_cannot_be_keywords() -> None:
    # Given one node of each kind, one of them with the id `end` (a Mermaid keyword)
    lines = drawing([
        {"id": "start", "type": "trigger"},
        {"id": "end", "type": "gateway_if", "data": {"condition": "true"}},
        {"id": "fan", "type": "parallel"},
        {"id": "call", "type": "action", "data": {"workflow": "w"}},
        {"id": "web", "type": "http_request", "data": {"url": "https://example.org"}},
        {"id": "shape", "type": "transform", "data": {"value": 1}},
        {"id": "meet", "type": "join"},
    ], [])
    # Then each is drawn with its shape under a prefixed id
    assert lines[0] == "flowchart TD"
    assert '    n_start(["start<br/>trigger"])' in lines
    assert '    n_end{"end<br/>gateway_if"}' in lines
    assert '    n_fan{{"fan<br/>parallel"}}' in lines
    assert '    n_call["call<br/>action"]' in lines
    assert '    n_web[/"web<br/>http_request"/]' in lines
    assert '    n_shape[["shape<br/>transform"]]' in lines
    assert '    n_meet(("meet<br/>join"))' in lines


def test_a_loop_is_a_subgraph_holding_its_body_and_edges_keep_labels() -> None:
    body = {"nodes": [{"id": "inner", "type": "transform", "data": {"value": 1}},
                      {"id": "inner2", "type": "transform", "data": {"value": 2}}],
            "edges": [{"source": "inner", "target": "inner2"}]}
    lines = drawing([
        {"id": "g", "type": "gateway_if", "data": {"condition": "true"}},
        {"id": "each", "type": "loop_foreach", "name": "Each item", "data": {"items": [1], "body": body}},
        {"id": "fix", "type": "transform", "data": {"value": 0}},
    ], [{"source": "g", "target": "each", "label": "true"}, {"source": "each", "target": "fix", "on": "error"},
        {"source": "g", "target": "fix", "label": "false", "on": "error"}])
    # Then the body sits between `subgraph` and `end`, and error edges are dashed and labelled
    start, finish = lines.index('    subgraph n_each ["Each item<br/>loop_foreach"]'), lines.index("    end")
    assert lines[start + 1:finish] == ["        direction TB", '        n_inner[["inner<br/>transform"]]',
                                       '        n_inner2[["inner2<br/>transform"]]', "        n_inner --> n_inner2"]
    assert '    n_g -->|"true"| n_each' in lines
    assert '    n_each -.->|"error"| n_fix' in lines
    assert '    n_g -.->|"error: false"| n_fix' in lines


def test_labels_cannot_break_out_of_their_quotes_or_inject_markup() -> None:
    # Given names and labels with quotes, pipes, brackets, markup and a line break
    lines = drawing([
        {"id": "a", "type": "transform", "name": 'say "hi"]; click a call evil() <script>#1', "data": {"value": 1}},
        {"id": "s", "type": "gateway_switch", "name": "two\nlines", "data": {"expression": "1"}},
    ], [{"source": "s", "target": "a", "label": 'x"|y'}])
    text = "\n".join(lines)
    # Then each dangerous character is an entity code and the line break is <br/>
    assert '    n_a[["say #quot;hi#quot;]; click a call evil() #lt;script#gt;#35;1<br/>transform"]]' in lines
    assert '    n_s{"two<br/>lines<br/>gateway_switch"}' in lines
    assert '    n_s -->|"x#quot;#124;y"| n_a' in lines
    assert "<script>" not in text and 'say "hi"' not in text
