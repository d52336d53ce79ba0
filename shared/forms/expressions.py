"""Provider inputs computed from the form's values: Jinja2 templates rendered in an immutable sandbox.

`{{ values.first }}.{{ values.last }}` renders over `values`, a mapping of EVERY field of the form to its current
value (None when empty or hidden, rendered as ""). Undefined names are errors (StrictUndefined), so a misspelt field
fails when the form is saved (`referenced_fields` finds the `values.<name>` / `values["<name>"]` it reads, and each
must be a field) rather than silently rendering "". The sandbox forbids attribute tricks and mutation; on top of it,
`*` and `**` are bounded and the output is capped, so an expression cannot make the server build huge strings.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 10_000
_MAX_POWER = 1_000


class ExpressionError(Exception):
    """An expression that cannot be compiled or rendered; the message says why, for the form's admin or user."""


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    """The sandbox, built on first use: Jinja2 takes ~50 ms to import, which every host start would otherwise pay
    (function_app imports the forms routes) though only forms with expressions need it."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    class Environment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
            if operator_name == "**":
                if isinstance(right, int | float) and abs(right) > _MAX_POWER:
                    raise SecurityError(f"an exponent above {_MAX_POWER} is not allowed")
                return operator.pow(left, right)
            if isinstance(left, str | list) or isinstance(right, str | list):
                count = right if isinstance(left, str | list) else left
                size = len(left if isinstance(left, str | list) else right)
                if isinstance(count, int) and count * size > MAX_OUTPUT_CHARS:
                    raise SecurityError(f"a repeated value longer than {MAX_OUTPUT_CHARS} is not allowed")
            return operator.mul(left, right)

    return Environment(undefined=StrictUndefined, autoescape=False, finalize=lambda v: "" if v is None else v)


@lru_cache(maxsize=512)
def compile_expression(text: str) -> Template:
    """The compiled template, or ExpressionError naming the syntax problem (and its line)."""
    from jinja2 import TemplateError

    try:
        return _environment().from_string(text)
    except TemplateError as error:
        raise ExpressionError(f"does not compile: {error.message or error}") from None


def problem(text: str) -> str | None:
    """Why `text` cannot be an expression, or None when it compiles."""
    try:
        compile_expression(text)
    except ExpressionError as error:
        return str(error)
    return None


def referenced_fields(text: str) -> set[str]:
    """The fields an expression reads as `values.<name>` or `values["<name>"]` (it must compile)."""
    from jinja2 import nodes

    tree = _environment().parse(text)
    found: set[str] = set()
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == "values":
            found.add(node.attr)
    for item in tree.find_all(nodes.Getitem):
        reads_values = isinstance(item.node, nodes.Name) and item.node.name == "values"
        if reads_values and isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            found.add(item.arg.value)
    return found


def other_names(text: str) -> set[str]:
    """Top-level names an expression reads besides `values` (always undefined, so an error at save)."""
    from jinja2 import meta

    return meta.find_undeclared_variables(_environment().parse(text)) - {"values"}


def render(text: str, values: Mapping[str, Any]) -> str:
    """The expression's text over `values`; ExpressionError saying what failed."""
    try:
        output = compile_expression(text).render(values=dict(values))
    except ExpressionError:
        raise
    except Exception as error:  # UndefinedError, SecurityError, a filter's TypeError: all the expression's doing
        raise ExpressionError(f"could not be rendered: {error}") from None
    if len(output) > MAX_OUTPUT_CHARS:
        raise ExpressionError(f"renders {len(output):,} characters; the limit is {MAX_OUTPUT_CHARS:,}")
    return output
