"""Nodes that shape the flow without doing work of their own: trigger, parallel, join."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict

from shared.dag.nodes.base import NodeConfig, NodeHandler, register


class TriggerConfig(NodeConfig):
    """The DAG seed's trigger (`{"trigger": {"kind": "event_based", ...}}`): kept for the reader, not interpreted."""

    model_config = ConfigDict(extra="allow")

    trigger: dict[str, Any] | None = None


@register
class TriggerNode(NodeHandler):
    type_name = "trigger"
    description = "The entry point: its output is the run's inputs (the event payload)."
    Config = TriggerConfig

    async def run(self, run: Any, config: Any) -> Any:
        return run.inputs


class ParallelConfig(NodeConfig):
    pass


@register
class ParallelNode(NodeHandler):
    type_name = "parallel"
    description = "Fan-out: every outgoing edge is taken and its branches run concurrently."
    Config = ParallelConfig

    async def run(self, run: Any, config: Any) -> Any:
        return None


class JoinConfig(NodeConfig):
    mode: Literal["all", "any"] = "all"


@register
class JoinNode(NodeHandler):
    type_name = "join"
    description = ("Waits for `all` of its non-skipped predecessors (or the first of them, `any`); its output maps "
                   "each finished predecessor's id to its output.")
    Config = JoinConfig

    async def run(self, run: Any, config: Any) -> Any:
        return dict(run.predecessors)  # the executor started it once all (or, `any`, one) of them finished
