"""A DAG definition as authors write it (a `*.dag.json` file, or the body of `POST /api/dags`): pydantic models.

The models check shape only: known keys, types, sizes. Whether the graph makes sense (a start node, no cycle,
labelled gateway edges, templates that compile and read only what is upstream) is `validation.check_definition`,
which reports every problem at once. A node's type-specific settings are its `data` object (the DAG seed's name for
it), checked against the config model of the node type's handler (`shared.dag.nodes`).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"  # a workflow name: usable in a URL path and a Table RowKey
NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"  # readable in templates as `nodes.<id>`
MAX_DEFINITION_BYTES = 256 * 1024  # as compact JSON text; stored in one Table entity (1 MiB) with room to spare
MAX_NODES = 500  # nodes in the whole definition, loop bodies included
ERROR_EDGE = "error"
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DagParameter(_Strict):
    """One input of the DAG, with the fields of `@param` (shared.functions.registry.ParameterMetadata)."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    type: Literal["string", "int", "bool", "float", "json", "list", "email"] = "string"
    label: str | None = None
    required: bool = False
    default_value: Any = None
    help_text: str | None = None
    data_provider: str | None = None
    validation: dict[str, Any] | None = None


class DagSchedule(_Strict):
    """`schedule` as an object: the `@workflow(schedule=...)` arguments (see shared.functions.schedule)."""

    cron: str
    timezone: str = "UTC"
    inputs: dict[str, Any] | None = None
    catch_up: Literal["latest", "all", "none"] = "latest"
    max_catch_up: int = 10
    grace_seconds: int = 120
    overlap: Literal["skip", "allow", "cancel_previous"] = "skip"


class DagEdge(_Strict):
    """`source` -> `target`. `label` picks a gateway's branch (`true`/`false`, a switch case, `default`); `on: "error"`
    routes the source's failure instead of failing the run (the target reads it as `nodes.<source>.error`)."""

    source: str
    target: str
    label: str | None = None
    on: Literal["success", "error"] = "success"
    id: str | None = None  # editors (and the DAG seed's tools) name their edges; kept, never interpreted

    @property
    def on_error(self) -> bool:
        return self.on == ERROR_EDGE


class DagNode(_Strict):
    """One node: its `type` names a handler in shared.dag.nodes; `data` is that handler's config."""

    id: str
    type: str
    name: str | None = None  # a label for people (Mermaid, the UI)
    description: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float | None = Field(default=None, gt=0)
    # Run again after a failure: the fields of `@workflow(retry_policy=...)` (shared.functions.retry_policy).
    retry: dict[str, Any] | None = None
    position: Any = None  # where a graph editor drew it; kept, never interpreted


class DagGraph(_Strict):
    """Nodes and edges: a whole definition, or the `body` of a loop node."""

    nodes: list[DagNode] = Field(default_factory=list)
    edges: list[DagEdge] = Field(default_factory=list)

    def node(self, node_id: str) -> DagNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)


class DagDefinition(DagGraph):
    """A whole DAG workflow. `execution_mode`, `timeout_seconds` and `parameters` mean what they mean for
    `@workflow`; `output` (optional, a template) is the run's result, else the output of its last node (see
    executor). `endpoint_enabled`, `allowed_methods`, `public_endpoint` and `disable_global_key` make it a webhook
    endpoint as they do for `@workflow`. `schema_type` is the DAG seed's marker, accepted and ignored. `version` is
    set by storage."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    category: str = "General"
    execution_mode: Literal["sync", "async"] | None = None  # as @workflow: sync for endpoints, else async
    timeout_seconds: int = Field(default=300, ge=1, le=86_400)
    parameters: list[DagParameter] = Field(default_factory=list)
    schedule: str | DagSchedule | None = None
    output: Any = None
    endpoint_enabled: bool = False
    allowed_methods: list[HttpMethod] = Field(default_factory=lambda: list[HttpMethod](["POST"]))
    public_endpoint: bool = False
    disable_global_key: bool = False
    schema_type: Literal["dag"] | None = None
    version: int | None = Field(default=None, ge=1)

    def to_json(self) -> dict[str, Any]:
        """The definition as JSON, without the defaults nobody wrote (what is stored and shown)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {"name": self.name}

    @property
    def mode(self) -> Literal["sync", "async"]:
        return self.execution_mode or ("sync" if self.endpoint_enabled else "async")

    def size_bytes(self) -> int:
        return len(json.dumps(self.to_json(), separators=(",", ":")).encode())


def all_nodes(graph: DagGraph, body_of: Any = None) -> list[DagNode]:
    """Every node of `graph` and of its loop bodies, depth first. `body_of(node)` gives a node's body graph or None
    (shared.dag.nodes.body_of); without it only the top level is listed."""
    found: list[DagNode] = []
    for node in graph.nodes:
        found.append(node)
        body = body_of(node) if body_of is not None else None
        if body is not None:
            found.extend(all_nodes(body, body_of))
    return found
