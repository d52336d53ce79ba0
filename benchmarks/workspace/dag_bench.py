"""The DAG benchmark's workflows (benchmarks/dag_run.py): a 10 ms task, a 100 ms task, and three DAGs built from
them. The DAGs are built here in Python and registered as the engine registers any definition (no `*.dag.json`
loader on this branch): 40 chained actions, 10 parallel branches joined, a foreach over 1,000 items."""

from __future__ import annotations

import asyncio
from typing import Any

from shared import workflow
from shared.dag.definition import DagDefinition
from shared.dag.registration import dag_metadata
from shared.functions.registry import get_registry

CHAIN_LENGTH = 40
BRANCHES = 10


@workflow(name="bench_sleep_10ms", timeout_seconds=60)
async def bench_sleep_10ms(context, step: int = 0) -> int:
    await asyncio.sleep(0.010)
    return step + 1


@workflow(name="bench_sleep_100ms", timeout_seconds=60)
async def bench_sleep_100ms(context, branch: int = 0) -> int:
    await asyncio.sleep(0.100)
    return branch


def _action(node_id: str, workflow_name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "type": "action", "data": {"workflow": workflow_name, "input": inputs}}


def chain_dag() -> DagDefinition:
    nodes = [_action("n0", "bench_sleep_10ms", {"step": 0})]
    nodes += [_action(f"n{i}", "bench_sleep_10ms", {"step": f"{{{{ nodes.n{i - 1}.output }}}}"})
              for i in range(1, CHAIN_LENGTH)]
    edges = [{"source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, CHAIN_LENGTH)]
    return DagDefinition.model_validate({"name": "bench_dag_chain", "execution_mode": "sync", "nodes": nodes,
                                         "edges": edges})


def parallel_dag() -> DagDefinition:
    nodes = [{"id": "fan", "type": "parallel"}, {"id": "all", "type": "join", "data": {"mode": "all"}}]
    nodes += [_action(f"b{i}", "bench_sleep_100ms", {"branch": i}) for i in range(BRANCHES)]
    edges = [{"source": "fan", "target": f"b{i}"} for i in range(BRANCHES)]
    edges += [{"source": f"b{i}", "target": "all"} for i in range(BRANCHES)]
    return DagDefinition.model_validate({"name": "bench_dag_parallel", "execution_mode": "sync", "nodes": nodes,
                                         "edges": edges})


def foreach_dag() -> DagDefinition:
    body = {"nodes": [_action("each", "bench_sleep_10ms", {"step": "{{ item }}"})]}
    loop = {"id": "loop", "type": "loop_foreach",
            "data": {"items": "{{ range(inputs.count) | list }}", "max_concurrency": 50, "body": body}}
    return DagDefinition.model_validate({"name": "bench_dag_foreach", "execution_mode": "sync", "nodes": [loop],
                                         "edges": [], "parameters": [{"name": "count", "type": "int",
                                                                      "default_value": 1000}]})


for _definition in (chain_dag(), parallel_dag(), foreach_dag()):
    get_registry().register(dag_metadata(_definition, source="workspace"))
