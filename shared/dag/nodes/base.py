"""The node-type registry: one handler per node type, each with the config model its `data` must fit.

Adding a node type is adding a handler: a subclass of `NodeHandler` decorated with `@register`, in a module
imported by `shared.dag.nodes`. Validation reads `Config`, `template_fields` and `expression_fields`; the executor
calls `run`; `GET /api/dags/node-types` lists `type_name`, `description` and the config's JSON Schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from shared.dag.definition import DagGraph, DagNode


class NodeConfig(BaseModel):
    """Base of every node type's config: unknown keys are mistakes, named as such."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class Branch:
    """What a gateway's `run` returns: its output, and the labels of the outgoing edges it takes ("" takes the
    unlabelled ones: a `wait_for_event` takes them when its event comes, its `timeout` edge when time runs out)."""

    output: Any
    labels: frozenset[str]


class Parked(Exception):
    """A node (or a loop body) cannot go on before a time or an event: the run pauses (shared.engine.durable)."""


class NodeParked(Parked):
    """Raised by a node that waits: `wait` is what for ({"reason", "until", "event"}); `recorded` when the node's
    Waiting step is already stored (it waited before and still does)."""

    def __init__(self, wait: dict[str, Any], *, recorded: bool = False) -> None:
        super().__init__(f"waiting ({wait.get('reason')})")
        self.wait, self.recorded = wait, recorded


class GraphParked(Parked):
    """A graph (a loop body) ran everything it could; some of its nodes wait."""


class NodeHandler:
    """What a node of one type accepts (`Config`) and does (`run`).

    `template_fields`: keys of `data` whose values (text, or JSON with text inside) are Jinja2 templates, compiled
    at validation and rendered before `run`. `expression_fields`: keys holding one Jinja2 expression (a condition).
    `body_field`: the key holding a nested graph (loops). `branch_labels`: for a gateway, which outgoing edge labels
    it can choose (None: any label the config names, as a switch's cases do); a non-gateway has `is_gateway` False.
    """

    type_name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type[NodeConfig]] = NodeConfig
    template_fields: ClassVar[tuple[str, ...]] = ()
    expression_fields: ClassVar[tuple[str, ...]] = ()
    body_field: ClassVar[str | None] = None
    is_gateway: ClassVar[bool] = False
    branch_labels: ClassVar[frozenset[str] | None] = None

    async def run(self, run: Any, config: Any) -> Any:
        """Do the node's work and return its output (a gateway: a `Branch`). `run` is the executor's view of this
        node's run (shared.dag.executor.NodeRun): `context`, `inputs`, `iteration`, `predecessors`, `out_labels`,
        `evaluate(expression, **names)`, `render(value, **names)`, `run_body(graph, index, names)`, `http()`.
        `config` is `Config` parsed from `data` with its template fields rendered."""
        raise NotImplementedError(f"node type '{self.type_name}' has no run")

    def to_api(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "description": self.description,
            "config_schema": self.Config.model_json_schema(),
            "template_fields": list(self.template_fields),
            "expression_fields": list(self.expression_fields),
        }


_HANDLERS: dict[str, NodeHandler] = {}


def register(cls: type[NodeHandler]) -> type[NodeHandler]:
    """Class decorator: make `cls` the handler of nodes of type `cls.type_name`."""
    _HANDLERS[cls.type_name] = cls()
    return cls


def handler_for(node_type: str) -> NodeHandler | None:
    return _HANDLERS.get(node_type)


def handlers() -> list[NodeHandler]:
    return sorted(_HANDLERS.values(), key=lambda h: h.type_name)


def config_of(node: DagNode) -> NodeConfig:
    """The node's `data` parsed by its handler's config model (raises KeyError / pydantic.ValidationError)."""
    return _HANDLERS[node.type].Config.model_validate(node.data)


def body_of(node: DagNode) -> DagGraph | None:
    """A loop node's nested graph, or None (also for a node whose config does not parse)."""
    handler = _HANDLERS.get(node.type)
    if handler is None or handler.body_field is None:
        return None
    from shared.dag.definition import DagGraph

    raw = node.data.get(handler.body_field)
    try:
        return DagGraph.model_validate(raw) if isinstance(raw, dict) else None
    except ValueError:
        return None
