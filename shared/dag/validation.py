"""Whether a DAG definition can run: every problem at once, each naming its node or edge and its kind.

`definition_problems` lists them; `check_definition` returns the parsed definition or raises `DagValidationError`
(HTTP 422) with all of them. Each problem is a `FieldError`: `field` says where (`nodes.fetch.data.url`,
`edges[2]`, `nodes[3]` for a node without a usable id, `nodes.loop.data.body.nodes.inner` inside a loop body) and
`code` what (`cycle`, `unknown_action`, ...: the table in the README). A definition whose shape is wrong is still
checked as a graph: the parts that parse are kept, so a wrong field and a cycle are reported together.

`registry` resolves `action` nodes to registered `@workflow` functions; without one (the offline CLI) actions are
not checked. Name collisions with registered functions are the library's and the loader's to refuse, not this.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared.dag.definition import (
    MAX_DEFINITION_BYTES,
    MAX_NODES,
    NODE_ID_PATTERN,
    DagDefinition,
    DagEdge,
    DagGraph,
    DagNode,
    all_nodes,
)
from shared.dag.nodes import NodeHandler, body_of, handler_for, handlers
from shared.dag.nodes.work import ActionConfig
from shared.dag.registration import dag_metadata
from shared.dag.template_checks import BASE_NAMES, BODY_NAMES, WHILE_CONDITION_NAMES, Scope, template_problems
from shared.dag.template_checks import value_problems as template_value_problems
from shared.dag.topology import Topology
from shared.errors import ConduitError, DagValidationError, FieldError, InputValidationError
from shared.functions.registry import FunctionRegistry
from shared.functions.retry_policy import parse_retry_policy

_NODE_ID = re.compile(NODE_ID_PATTERN)
_REQUIRED = {"nodes": ("id", "type"), "edges": ("source", "target"), "parameters": ("name",)}
_SALVAGE_ATTEMPTS = 4


def check_definition(raw: dict[str, Any] | DagDefinition, registry: FunctionRegistry | None) -> DagDefinition:
    """The parsed definition, or DagValidationError listing every problem."""
    problems, definition = _checked(raw, registry)
    if definition is None or problems:
        name = raw.get("name") if isinstance(raw, dict) else raw.name
        raise DagValidationError(problems, name if isinstance(name, str) else None)
    return definition


def definition_problems(raw: dict[str, Any] | DagDefinition, registry: FunctionRegistry | None) -> list[FieldError]:
    """Every problem of `raw`; empty when it can register and run."""
    return _checked(raw, registry)[0]


def _checked(raw: Any, registry: FunctionRegistry | None) -> tuple[list[FieldError], DagDefinition | None]:
    problems: list[FieldError] = []
    parsed = (raw, frozenset[str]()) if isinstance(raw, DagDefinition) else _parse(raw, problems)
    if parsed is None:
        return problems, None
    definition, unparsed = parsed
    problems += _size_problems(raw, definition)
    problems += _parameter_problems(definition)
    problems += _GraphChecks(definition, registry, unparsed).run()
    return problems, definition


# Shape --------------------------------------------------------------------------------------------------------------


def _parse(raw: Any, problems: list[FieldError]) -> tuple[DagDefinition, frozenset[str]] | None:
    """The definition with what does not parse left out (each reported as `invalid_definition`), and the ids of
    nodes left out, so edges to them are not reported a second time."""
    if not isinstance(raw, dict):
        problems.append(FieldError("definition", "a DAG definition is a JSON object", "invalid_definition"))
        return None
    data, unparsed, reported = copy.deepcopy(raw), set[str](), set[tuple[str, str]]()
    for _ in range(_SALVAGE_ATTEMPTS):
        try:
            return DagDefinition.model_validate(data), frozenset(unparsed)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        for error in errors:
            problem = FieldError(_location(error["loc"]), _message(error), "invalid_definition")
            if (problem.field, problem.message) not in reported:
                reported.add((problem.field, problem.message))
                problems.append(problem)
        data = _without(data, [error["loc"] for error in errors], unparsed)
    return None


def _location(loc: tuple[Any, ...], start: str = "") -> str:
    text = start
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "definition"


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return str(error["msg"]).removeprefix("Value error, ")


def _without(data: dict[str, Any], locations: list[tuple[Any, ...]], unparsed: set[str]) -> dict[str, Any]:
    """`data` without the parts named by pydantic's error locations: a wrong optional key of a node, edge or
    parameter is dropped, an item missing a required key is dropped whole, a wrong top-level key falls back to its
    default (a wrong name becomes a placeholder so the graph is still checked)."""
    dropped: dict[str, set[int]] = {}
    for loc in locations:
        key = loc[0] if loc else None
        if key in _REQUIRED and len(loc) >= 2 and isinstance(loc[1], int) and isinstance(data.get(key), list):
            item = data[key][loc[1]]
            if len(loc) >= 3 and isinstance(item, dict) and loc[2] not in _REQUIRED[key]:
                item.pop(loc[2], None)
            else:
                dropped.setdefault(key, set()).add(loc[1])
        elif key == "name":
            data["name"] = "_"
        elif key is not None:
            data.pop(key, None)
    for key, indexes in dropped.items():
        if key == "nodes":
            unparsed.update(item["id"] for i, item in enumerate(data[key])
                            if i in indexes and isinstance(item, dict) and isinstance(item.get("id"), str))
        data[key] = [item for i, item in enumerate(data[key]) if i not in indexes]
    return data


def _size_problems(raw: Any, definition: DagDefinition) -> list[FieldError]:
    problems = []
    text = json.dumps(raw, separators=(",", ":"), default=str) if isinstance(raw, dict) else None
    size = len(text.encode()) if text is not None else definition.size_bytes()
    if size > MAX_DEFINITION_BYTES:
        problems.append(FieldError("definition", f"the definition is {size:,} bytes as compact JSON; at most "
                                                 f"{MAX_DEFINITION_BYTES:,} are accepted", "too_large"))
    count = len(all_nodes(definition, body_of))
    if count > MAX_NODES:
        problems.append(FieldError("nodes", f"the definition has {count:,} nodes (loop bodies included); at most "
                                            f"{MAX_NODES:,} are accepted", "too_large"))
    return problems


def _parameter_problems(definition: DagDefinition) -> list[FieldError]:
    """Duplicate parameter names, then what registration itself refuses: the input model and the schedule (whose
    inputs must make a valid call, as `@workflow(schedule_inputs=...)` must)."""
    problems = []
    seen: set[str] = set()
    for index, parameter in enumerate(definition.parameters):
        if parameter.name in seen:
            problems.append(FieldError(f"parameters[{index}].name", f"a second parameter is named "
                                                                     f"'{parameter.name}'", "invalid_definition"))
        seen.add(parameter.name)
    if problems:
        return problems
    try:
        metadata = dag_metadata(definition)
    except ValueError as error:  # the schedule: its cron text, time zone or options
        return [FieldError("schedule", str(error), "invalid_schedule")]
    except ConduitError as error:  # a parameter the input model cannot take (a default of the wrong type)
        return [FieldError("parameters", error.message, "invalid_definition")]
    if metadata.schedule_options is None or metadata.input_model is None:
        return []
    try:
        metadata.input_model.validate(dict(metadata.schedule_options.inputs))
    except InputValidationError as error:
        return [FieldError(f"schedule.inputs.{e.field}", f"a scheduled run has no other input: {e.message}",
                           "invalid_schedule") for e in error.errors]
    return []


# The graph ----------------------------------------------------------------------------------------------------------


@dataclass
class _Level:
    """One graph being checked: the top level, or a loop body at `prefix` (`nodes.loop.data.body.`)."""

    graph: DagGraph
    prefix: str
    outer_upstream: frozenset[str]
    in_loop: bool
    nodes: dict[str, DagNode] = field(default_factory=dict)
    edges: list[tuple[int, DagEdge]] = field(default_factory=list)

    def where(self, node_id: str) -> str:
        return f"{self.prefix}nodes.{node_id}"

    def scope(self, topology: Topology, node_id: str, parameters: frozenset[str] | None,
              extra: frozenset[str] = frozenset()) -> Scope:
        names = BASE_NAMES | (BODY_NAMES if self.in_loop else frozenset()) | extra
        return Scope(names, topology.ancestors(node_id) | self.outer_upstream, parameters, self.in_loop)


class _GraphChecks:
    """Structure, node configs and templates of the top level and, recursively, of every loop body."""

    def __init__(self, definition: DagDefinition, registry: FunctionRegistry | None, unparsed: frozenset[str]) -> None:
        self.definition = definition
        self.registry = registry
        self.unparsed = unparsed
        self.parameters = frozenset(p.name for p in definition.parameters) if definition.parameters else None
        self.ids: dict[str, str] = {}  # node id -> where it was first defined, across all levels
        self.problems: list[FieldError] = []

    def run(self) -> list[FieldError]:
        top = self.check_level(_Level(self.definition, "", frozenset(), in_loop=False))
        if self.definition.output is not None:
            scope = Scope(BASE_NAMES, frozenset(top.ids), self.parameters, in_loop=False)
            self.problems += template_value_problems("output", self.definition.output, scope)
        return self.problems

    def check_level(self, level: _Level) -> Topology:
        self.collect_nodes(level)
        self.collect_edges(level)
        topology = Topology(list(level.nodes), {i: n.type for i, n in level.nodes.items()},
                            [(e.source, e.target) for _, e in level.edges])
        self.problems += structure_problems(topology, level.prefix)
        for node in level.nodes.values():
            self.check_node(level, topology, node)
        return topology

    def collect_nodes(self, level: _Level) -> None:
        for index, node in enumerate(level.graph.nodes):
            here = f"{level.prefix}nodes[{index}]"
            if not _NODE_ID.match(node.id):
                self.add(f"{here}.id", f"'{node.id}' is not a usable node id: letters, digits and _, not starting "
                                       "with a digit, at most 64 (it is read in templates as nodes.<id>)",
                         "invalid_definition")
            elif node.id in self.ids:
                self.add(here, f"the node id '{node.id}' is already used by {self.ids[node.id]} (ids are unique in "
                               "the whole definition, loop bodies included)", "duplicate_node_id")
            else:
                self.ids[node.id] = here
                level.nodes[node.id] = node

    def collect_edges(self, level: _Level) -> None:
        for index, edge in enumerate(level.graph.edges):
            missing = [end for end in (edge.source, edge.target) if end not in level.nodes]
            if not missing:
                level.edges.append((index, edge))
            elif not set(missing) <= self.unparsed:
                ends = " and ".join(f"'{m}'" for m in missing)
                self.add(f"{level.prefix}edges[{index}]", f"edge {edge.source} -> {edge.target} names {ends}, which "
                                                          "is no node of this graph", "edge_missing_node")

    def check_node(self, level: _Level, topology: Topology, node: DagNode) -> None:
        handler = handler_for(node.type)
        if handler is None:
            known = ", ".join(sorted(h.type_name for h in handlers()))
            self.add(f"{level.where(node.id)}.type", f"unknown node type '{node.type}' (known: {known})",
                     "unknown_node_type")
            return
        config = self.config_problems(level, node, handler)
        self.problems += self.edge_rule_problems(level, node, handler)
        if node.retry is not None:
            try:
                parse_retry_policy(node.retry, "retry")
            except ValueError as error:
                self.add(f"{level.where(node.id)}.retry", str(error), "invalid_retry")
        if isinstance(config, ActionConfig):
            self.check_action(level, node, config)
        self.check_templates(level, topology, node, handler)
        body = body_of(node)
        if body is not None and handler.body_field is not None:
            upstream = topology.ancestors(node.id) | level.outer_upstream
            self.check_level(_Level(body, f"{level.where(node.id)}.data.{handler.body_field}.", upstream, True))

    def config_problems(self, level: _Level, node: DagNode, handler: NodeHandler) -> Any:
        """The node's parsed config, or None after reporting each way its `data` does not fit (`invalid_config`)."""
        try:
            return handler.Config.model_validate(node.data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                self.add(_location(error["loc"], f"{level.where(node.id)}.data"), _message(error), "invalid_config")
            return None

    def edge_rule_problems(self, level: _Level, node: DagNode, handler: NodeHandler) -> list[FieldError]:
        if handler.is_gateway:
            return gateway_problems(level, node, handler)
        if node.type == "wait_for_event":
            return wait_edge_problems(level, node)
        if node.type != "join":
            return []
        incoming = [edge for _, edge in level.edges if edge.target == node.id]
        if len(incoming) < 2:
            return [FieldError(level.where(node.id), f"a join waits for two or more branches; this one has "
                                                     f"{len(incoming)} incoming edge(s)", "join_too_few_inputs")]
        return []

    def check_action(self, level: _Level, node: DagNode, config: ActionConfig) -> None:
        if self.registry is None:
            return
        name = config.function_name
        metadata = self.registry.get(name)
        if metadata is None or not metadata.is_workflow:
            key = "workflow" if config.workflow else "tool"
            rule = "" if config.workflow else f" (tool '{config.tool}' + action '{config.action}' calls '{name}')"
            self.add(f"{level.where(node.id)}.data.{key}", f"no registered @workflow is named '{name}'{rule}; "
                                                           "GET /api/workflows lists them", "unknown_action")

    def check_templates(self, level: _Level, topology: Topology, node: DagNode, handler: NodeHandler) -> None:
        parameters = self.parameters
        base = f"{level.where(node.id)}.data"
        for key in handler.template_fields:
            if key in node.data:
                scope = level.scope(topology, node.id, parameters)
                self.problems += template_value_problems(f"{base}.{key}", node.data[key], scope)
        for key in handler.expression_fields:
            text = node.data.get(key)
            if isinstance(text, str) and text.strip():
                extra = WHILE_CONDITION_NAMES if handler.body_field is not None else frozenset()
                scope = level.scope(topology, node.id, parameters, extra)
                self.problems += template_problems(f"{base}.{key}", text, scope, expression=True)

    def add(self, where: str, message: str, code: str) -> None:
        self.problems.append(FieldError(where, message, code))


def wait_edge_problems(level: _Level, node: DagNode) -> list[FieldError]:
    """A wait_for_event's edges are unlabelled (taken when its event comes) or labelled `timeout` (taken when its
    `timeout_seconds` run out, which it then needs)."""
    problems = []
    for index, edge in level.edges:
        if edge.source != node.id or edge.on_error or edge.label is None:
            continue
        if edge.label != "timeout":
            problems.append(FieldError(f"{level.prefix}edges[{index}]", f"edge {edge.source} -> {edge.target} is "
                                       f"labelled '{edge.label}'; edges from a wait_for_event are unlabelled (the "
                                       "event came) or labelled timeout", "wait_edge_label"))
        elif not isinstance(node.data.get("timeout_seconds"), (int, float)):
            problems.append(FieldError(f"{level.prefix}edges[{index}]", f"edge {edge.source} -> {edge.target} is "
                                       "taken when the wait times out, but the node has no timeout_seconds in its "
                                       "data", "wait_edge_label"))
    return problems


def gateway_problems(level: _Level, node: DagNode, handler: NodeHandler) -> list[FieldError]:
    """A gateway chooses edges by label: it needs labelled outgoing edges, each with a label it can choose."""
    outgoing = [(index, edge) for index, edge in level.edges if edge.source == node.id and not edge.on_error]
    labels = sorted(handler.branch_labels) if handler.branch_labels is not None else None
    wanted = f"labelled {' / '.join(labels)}" if labels else "labelled with case values or `default`"
    problems = []
    if not any(edge.label for _, edge in outgoing):
        problems.append(FieldError(level.where(node.id), f"a {node.type} needs outgoing edges {wanted}; it has none",
                                   "gateway_missing_labels"))
    for index, edge in outgoing:
        if edge.label is None or (labels is not None and edge.label not in labels):
            said = "has no label" if edge.label is None else f"is labelled '{edge.label}'"
            problems.append(FieldError(f"{level.prefix}edges[{index}]", f"edge {edge.source} -> {edge.target} from "
                                       f"{node.type} {said}; edges from it are {wanted}", "gateway_missing_labels"))
    return problems


def structure_problems(topology: Topology, prefix: str) -> list[FieldError]:
    """Start, triggers, cycles, connectivity and reachability of one graph."""
    if not topology.ids:
        return [FieldError(f"{prefix}nodes", "the graph has no nodes, so a run has nowhere to start", "no_start_node")]
    problems = list(_trigger_problems(topology, prefix))
    entries = topology.entries()
    if not entries:
        problems.append(FieldError(f"{prefix}nodes", "every node has an incoming edge, so a run has nowhere to "
                                                     "start (add a trigger, or a node nothing points to)",
                                   "no_start_node"))
    for cycle in topology.cycles():
        problems.append(FieldError(f"{prefix}nodes.{cycle[0]}", f"these nodes form a cycle: {' -> '.join(cycle)} "
                                   "(a graph runs each node once; repeat work with loop_while)", "cycle"))
    problems += _connectivity_problems(topology, prefix, entries)
    return problems


def _trigger_problems(topology: Topology, prefix: str) -> Iterator[FieldError]:
    triggers = topology.triggers()
    for extra in triggers[1:]:
        yield FieldError(f"{prefix}nodes.{extra}", f"a graph has at most one trigger; '{triggers[0]}' is the first",
                         "multiple_triggers")
    for trigger in triggers:
        if topology.predecessors[trigger]:
            yield FieldError(f"{prefix}nodes.{trigger}", "a trigger is where a run starts; no edge may lead to it",
                             "trigger_has_inputs")


def _connectivity_problems(topology: Topology, prefix: str, entries: list[str]) -> list[FieldError]:
    components = topology.components()
    main = next((c for c in components if entries and entries[0] in c), components[0])
    problems = [FieldError(f"{prefix}nodes.{component[0]}", f"not connected to the rest of the graph: "
                           f"{', '.join(component)} (a graph is one connected piece)", "disconnected_graph")
                for component in components if component is not main]
    if entries:
        reached = topology.reachable(entries)
        start = "the trigger" if topology.triggers() else "a start node"
        problems += [FieldError(f"{prefix}nodes.{node}", f"no path of edges leads from {start} to this node, so it "
                                "never runs", "unreachable_node") for node in main if node not in reached]
    return problems
