"""Templates in DAG definitions: Jinja2 in a sandboxed environment, with undefined names as errors.

Templates read `inputs` (the run's parameters), `nodes.<id>.output` (and `nodes.<id>.error` behind an
`on: "error"` edge), `item` and `index` inside loop bodies, and `secret("name")` (the secret's value, masked in the
execution's logs and steps from then on). Strict undefined means a misspelt name fails the node with the name,
instead of rendering "".

A string that is exactly one `{{ expression }}` yields the expression's value as is (a list stays a list, a number a
number); any other string renders as text. `render_value` applies that to every string inside a JSON value, so an
`input` object can mix literal values and templates. Everything compiles once per process (`lru_cache`), at
validation first, so a syntax error is reported when the definition is checked, not when a run reaches the node.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEMPLATE_CHARS = 20_000
ROOT_NAMES = frozenset({"inputs", "nodes", "item", "index", "last", "secret"})
LOOP_NAMES = frozenset({"item", "index", "last"})

class _Environment(ImmutableSandboxedEnvironment):
    """`a.b` reads key `b` of a mapping before any attribute: `inputs.items` is the DAG's `items` parameter, not
    the dict's `items` method (Jinja's own order is attribute first, which turned such names into functions)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


_ENV = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


class TemplateError(ValueError):
    """A template that does not compile, or fails when rendered (an undefined name, a sandbox refusal)."""


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def single_expression(text: str) -> str | None:
    """The expression of a string that is exactly one `{{ ... }}`, else None."""
    match = _SINGLE.match(text)
    if match is None:
        return None
    expression = match.group("expr")
    return None if "{{" in expression or "}}" in expression or "{%" in expression else expression.strip()


def expression_source(text: str) -> str:
    """A condition may be written bare (`inputs.n > 3`) or wrapped (`{{ inputs.n > 3 }}`): the bare expression."""
    return single_expression(text) or text.strip()


@lru_cache(maxsize=4096)
def compile_text(source: str) -> Any:
    """The compiled template (raises TemplateError naming the line and problem)."""
    _check_size(source)
    try:
        return _ENV.from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateError(f"template syntax error on line {error.lineno}: {error.message}") from None


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Any:
    _check_size(source)
    try:
        return _ENV.compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError as error:
        raise TemplateError(f"expression syntax error: {error.message}") from None


def _check_size(source: str) -> None:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"a template has at most {MAX_TEMPLATE_CHARS:,} characters, this one {len(source):,}")


def evaluate(expression: str, variables: Mapping[str, Any]) -> Any:
    """The value of one expression (bare or wrapped in `{{ }}`) over `variables`."""
    value = _call(compile_expression(expression_source(expression)), dict(variables))
    if isinstance(value, Undefined):
        _call(value._fail_with_undefined_error)
    return value


def render_text(source: str, variables: Mapping[str, Any]) -> str:
    return str(_call(compile_text(source).render, dict(variables)))


def render_string(text: str, variables: Mapping[str, Any]) -> Any:
    """One string of a definition: its value when it is a single expression, its rendering when it holds template
    syntax, itself otherwise."""
    expression = single_expression(text)
    if expression is not None:
        return evaluate(expression, variables)
    return render_text(text, variables) if is_template(text) else text


def render_value(value: Any, variables: Mapping[str, Any]) -> Any:
    """`value` with every string inside it rendered (dict keys included)."""
    if isinstance(value, str):
        return render_string(value, variables)
    if isinstance(value, list):
        return [render_value(item, variables) for item in value]
    if isinstance(value, dict):
        return {str(render_value(k, variables)): render_value(v, variables) for k, v in value.items()}
    return value


def _call(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except TemplateError:
        raise
    except Exception as error:  # UndefinedError, SecurityError, a filter's TypeError: the author's mistake
        raise TemplateError(f"{type(error).__name__}: {error}") from None


def template_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string inside `value` that holds template syntax; dict keys included."""
    if isinstance(value, str):
        if is_template(value):
            yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from template_strings(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from template_strings(str(key), f"{path}.{key}" if path else str(key))
            yield from template_strings(item, f"{path}.{key}" if path else str(key))


def parse(source: str, *, expression: bool = False) -> nodes.Template:
    """The Jinja2 syntax tree of a template (or of a bare expression), for `references`."""
    compile_expression(source) if expression else compile_text(source)  # the same errors as at run time
    text = f"{{{{ {source} }}}}" if expression else source
    return _ENV.parse(text)


def references(tree: nodes.Node) -> tuple[set[str], set[str]]:
    """(root names read, node ids read through `nodes.<id>` or `nodes["<id>"]`) in a parsed template.

    Names the template binds itself (`{% set %}`, loop variables) are not roots. A `nodes` read with a computed key
    cannot be checked and is not listed."""
    bound = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    roots = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load" and n.name not in bound}
    node_ids: set[str] = set()
    for getattr_node in tree.find_all(nodes.Getattr):
        if isinstance(getattr_node.node, nodes.Name) and getattr_node.node.name == "nodes":
            node_ids.add(getattr_node.attr)
    for getitem in tree.find_all(nodes.Getitem):
        if (isinstance(getitem.node, nodes.Name) and getitem.node.name == "nodes"
                and isinstance(getitem.arg, nodes.Const) and isinstance(getitem.arg.value, str)):
            node_ids.add(getitem.arg.value)
    return roots, node_ids
