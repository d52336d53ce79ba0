"""What `GET /api/workflows/{name}/graph` answers: a workflow's nodes and edges, and their Mermaid drawing.

A DAG workflow answers its definition's graph. A Python workflow answers a graph of one node of type `python` (the
function is one step as far as the graph can tell), so a client draws every workflow the same way.
"""

from __future__ import annotations

from typing import Any

from shared.dag.definition import DagGraph, DagNode
from shared.dag.mermaid import to_mermaid
from shared.dag.registration import definition_of
from shared.functions.registry import FunctionMetadata

PYTHON_NODE_TYPE = "python"


def graph_view(metadata: FunctionMetadata) -> dict[str, Any]:
    definition = definition_of(metadata)
    graph: DagGraph = definition if definition is not None else _python_graph(metadata)
    return {
        "name": metadata.name,
        "kind": "dag" if definition is not None else PYTHON_NODE_TYPE,
        "version": definition.version if definition is not None else None,
        "nodes": [node.model_dump(mode="json", exclude_none=True) for node in graph.nodes],
        "edges": [edge.model_dump(mode="json", exclude_none=True) for edge in graph.edges],
        "mermaid": to_mermaid(graph),
    }


def _python_graph(metadata: FunctionMetadata) -> DagGraph:
    node = DagNode.model_construct(id=metadata.name, type=PYTHON_NODE_TYPE, name=metadata.name,
                                   description=metadata.description or None, data={}, timeout_seconds=None,
                                   position=None)
    return DagGraph(nodes=[node], edges=[])
