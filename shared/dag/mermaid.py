"""A DAG definition drawn as a Mermaid flowchart (`GET /api/workflows/{name}/graph`), for people and docs.

The shape says the kind of node: a trigger is a stadium, a gateway a rhombus, `parallel` a hexagon, a `join` a
circle, a `transform` a subroutine box, an `http_request` a parallelogram, an `action` a box; a loop is a subgraph
holding its body. Error edges are dashed and labelled `error`. Every label goes out quoted with Mermaid's entity
codes for the characters that would end or reinterpret it, so a node's name can never break the diagram (or
inject markup); node ids are prefixed (`n_`) so an id such as `end` is not read as a keyword.
"""

from __future__ import annotations

from shared.dag.definition import DagEdge, DagGraph, DagNode
from shared.dag.nodes import body_of

_SHAPES = {
    "trigger": ("([", "])"),
    "gateway_if": ("{", "}"),
    "gateway_switch": ("{", "}"),
    "parallel": ("{{", "}}"),
    "join": ("((", "))"),
    "transform": ("[[", "]]"),
    "http_request": ("[/", "/]"),
}
_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "|": "#124;", "`": "#96;"}
_INDENT = "    "


def to_mermaid(definition: DagGraph) -> str:
    """The Mermaid source (`flowchart TD`) of a definition, loop bodies drawn inside their loop's subgraph."""
    return "\n".join(["flowchart TD", *_graph_lines(definition, _INDENT)])


def _graph_lines(graph: DagGraph, indent: str) -> list[str]:
    lines: list[str] = []
    for node in graph.nodes:
        body = body_of(node)
        if body is None:
            lines.append(f"{indent}{_node(node)}")
        else:
            lines.append(f'{indent}subgraph {mermaid_id(node.id)} ["{escape(_label(node))}"]')
            lines.append(f"{indent}{_INDENT}direction TB")
            lines += _graph_lines(body, indent + _INDENT)
            lines.append(f"{indent}end")
    lines += [f"{indent}{_edge(edge)}" for edge in graph.edges]
    return lines


def _node(node: DagNode) -> str:
    opening, closing = _SHAPES.get(node.type, ("[", "]"))
    return f'{mermaid_id(node.id)}{opening}"{escape(_label(node))}"{closing}'


def _label(node: DagNode) -> str:
    """The node's name (or id) and its type, on two lines."""
    return f"{node.name or node.id}\n{node.type}"


def _edge(edge: DagEdge) -> str:
    source, target = mermaid_id(edge.source), mermaid_id(edge.target)
    if edge.on_error:
        label = "error" if edge.label is None else f"error: {edge.label}"
        return f'{source} -.->|"{escape(label)}"| {target}'
    if edge.label is not None:
        return f'{source} -->|"{escape(edge.label)}"| {target}'
    return f"{source} --> {target}"


def mermaid_id(node_id: str) -> str:
    """A Mermaid-safe id for a node id (validated ids are letters, digits and _; anything else is replaced)."""
    return "n_" + "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in node_id)


def escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label: entity codes for what would end or reinterpret it, line breaks
    as `<br/>` (the one piece of markup Mermaid labels are given on purpose)."""
    escaped = "".join(_ENTITIES.get(char, char) for char in text)
    return "<br/>".join(escaped.splitlines()) if escaped else escaped
