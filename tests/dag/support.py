"""Building DAG definitions in tests: registered in a registry of the test module's own, run by a real engine."""

from __future__ import annotations

import itertools
from typing import Any

from shared.dag.definition import DagDefinition
from shared.dag.registration import dag_metadata
from shared.functions.registry import FunctionRegistry


def node(node_id: str, node_type: str, timeout: float | None = None, **data: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"id": node_id, "type": node_type, "data": data}
    if timeout is not None:
        found["timeout_seconds"] = timeout
    return found


def edge(source: str, target: str, label: str | None = None, on: str = "success") -> dict[str, Any]:
    return {"source": source, "target": target, "label": label, "on": on}


def chain(*ids: str) -> list[dict[str, Any]]:
    return [edge(a, b) for a, b in itertools.pairwise(ids)]


def register_dag(registry: FunctionRegistry, name: str, nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
                 **fields: Any) -> DagDefinition:
    definition = DagDefinition.model_validate({"name": name, "nodes": nodes, "edges": edges, **fields})
    registry.register(dag_metadata(definition))
    return definition


def node_steps(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The dag_node steps by step name (`id`, or `id[0,1]` inside loops)."""
    return {s["step_name"]: s for s in steps if s["step_type"] == "dag_node"}
