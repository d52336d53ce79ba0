"""What validation checks in a node's templates: they compile, and read only what exists where they run.

A template may read `inputs` (declared parameters, when the definition declares any), `nodes.<id>` of its node's
ancestors (inside a loop body: the body's ancestors and the loop node's), `item` / `index` inside a loop body,
`last` and `index` in a `loop_while` condition, `secret(...)`, Jinja2's own globals and the names it binds itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes as jinja
from jinja2.defaults import DEFAULT_NAMESPACE

from shared.dag import templates
from shared.errors import FieldError

BASE_NAMES = frozenset({"inputs", "nodes", "secret"}) | frozenset(DEFAULT_NAMESPACE)  # range, dict, namespace, ...
BODY_NAMES = frozenset({"item", "index"})
WHILE_CONDITION_NAMES = frozenset({"index", "last"})


@dataclass(frozen=True)
class Scope:
    """Where a template runs: the names it may read, the node ids upstream of it, the declared parameters (None:
    the definition declares none, so any input may be read)."""

    names: frozenset[str]
    upstream: frozenset[str]
    parameters: frozenset[str] | None
    in_loop: bool


def template_problems(field: str, text: str, scope: Scope, *, expression: bool = False) -> list[FieldError]:
    """Every problem of one template string (or one bare expression) at `field`."""
    source = templates.expression_source(text) if expression else text
    single = None if expression else templates.single_expression(text)
    try:
        tree = templates.parse(single, expression=True) if single else templates.parse(source, expression=expression)
    except templates.TemplateError as error:
        return [FieldError(field, str(error), "template_syntax")]
    roots, node_ids = templates.references(tree)
    if any(True for _ in tree.find_all(jinja.For)):
        roots.discard("loop")  # Jinja2's own loop variable inside {% for %}
    return [*_root_problems(field, roots, scope), *_node_problems(field, node_ids, scope),
            *_input_problems(field, tree, scope)]


def value_problems(field: str, value: Any, scope: Scope) -> list[FieldError]:
    """Every problem of every template string inside a JSON value (a template field's value, the `output`)."""
    problems: list[FieldError] = []
    for path, text in templates.template_strings(value):
        where = f"{field}{'' if not path or path.startswith('[') else '.'}{path}"
        problems += template_problems(where, text, scope)
    return problems


def _root_problems(field: str, roots: set[str], scope: Scope) -> Iterator[FieldError]:
    for name in sorted(roots - scope.names):
        if name in templates.LOOP_NAMES:
            where = "a loop_while condition" if name == "last" else "a loop body"
            yield FieldError(field, f"'{name}' is only defined in {where}", "loop_variable_outside_loop")
        else:
            yield FieldError(field, f"unknown variable '{name}': templates read inputs, nodes.<id>, item, index, "
                                    f"last and secret(...)", "unknown_variable")


def _node_problems(field: str, node_ids: set[str], scope: Scope) -> Iterator[FieldError]:
    for node_id in sorted(node_ids - scope.upstream):
        yield FieldError(field, f"reads nodes.{node_id}, which is not upstream of this node (no path of edges leads "
                                f"from it here{', nor to the loop' if scope.in_loop else ''})", "not_upstream")


def _input_problems(field: str, tree: jinja.Node, scope: Scope) -> Iterator[FieldError]:
    if scope.parameters is None:
        return
    for name in sorted(input_names(tree) - scope.parameters):
        declared = ", ".join(sorted(scope.parameters))
        yield FieldError(field, f"reads inputs.{name}, but the DAG declares no parameter '{name}' (it declares: "
                                f"{declared})", "undeclared_parameter")


def input_names(tree: jinja.Node) -> set[str]:
    """Parameters read as `inputs.x` or `inputs["x"]` (a computed key cannot be checked and is not listed)."""
    names = {n.attr for n in tree.find_all(jinja.Getattr)
             if isinstance(n.node, jinja.Name) and n.node.name == "inputs"}
    names |= {n.arg.value for n in tree.find_all(jinja.Getitem)
              if isinstance(n.node, jinja.Name) and n.node.name == "inputs"
              and isinstance(n.arg, jinja.Const) and isinstance(n.arg.value, str)}
    return names
