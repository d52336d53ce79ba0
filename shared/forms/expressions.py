"""Provider inputs computed from the form's values: small Jinja2 expressions, limited to cheap constructs.

`{{ values.first }}.{{ values.last }}` renders over `values`, a mapping of EVERY field of the form to its current
value (None when empty or hidden, rendered as ""). Rendering happens on the host's event loop, so an expression must
not be able to run long or build huge values; a sandbox alone does not promise that (`{% for %}` over `range`, or
`((9**999)**999)**999`, pass it and never end). So an expression may use only these constructs, checked when the form
is saved (each other one is a problem naming it) and again before every render (a form stored earlier cannot
either):

- text, and `{{ ... }}` / `{% if %}...{% elif %}...{% else %}...{% endif %}`;
- `values.<field>` or `values["<field>"]` (a constant name; not `values` as a whole, nor anything read from a value);
- constants, `~` (join as text), `+`, comparisons (`==`, `!=`, `<`, `in`, ...), `and`, `or`, `not`,
  `a if cond else b`, and the tests in ALLOWED_TESTS (`values.x is none`);
- the filters in ALLOWED_FILTERS (`values.first | lower`).

No loops, macros, calls, `*`, `**`, `%`, assignments or `with`. Every value read is at most MAX_INPUT_CHARS as text,
`replace` and `join` refuse to build more than MAX_OUTPUT_CHARS, and so does the whole output: with the expression
itself capped at 2,000 characters, every render is linear in small sizes. Undefined names are errors
(StrictUndefined), so a misspelt field fails when the form is saved (`referenced_fields` finds the fields read, and
each must be a field) rather than silently rendering "".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Template, nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 10_000
MAX_INPUT_CHARS = 10_000
ALLOWED_FILTERS = frozenset({
    "lower", "upper", "title", "capitalize", "trim", "replace", "default", "d", "string", "int", "float", "truncate",
    "length", "first", "last", "join", "urlencode",
})
ALLOWED_TESTS = frozenset({"defined", "undefined", "none", "number", "string", "boolean", "true", "false"})
# Constructs refused by name, as an admin wrote them; any other node that is not allowed is named by its class.
_REFUSED = {
    "For": "loops ('for')", "Macro": "macros ('macro')", "CallBlock": "'call' blocks", "Call": "calls of functions "
    "or methods", "Pow": "'**'", "Mul": "'*'", "Div": "'/'", "FloorDiv": "'//'", "Mod": "'%'", "Sub": "'-'",
    "Neg": "a sign ('-')", "Pos": "a sign ('+')", "Assign": "assignments ('set')", "AssignBlock": "assignments ('set')",
    "With": "'with' blocks", "FilterBlock": "'filter' blocks", "Include": "'include'", "Import": "'import'",
    "FromImport": "'import'", "Extends": "'extends'", "Block": "'block'", "Slice": "slices ('[a:b]')",
    "List": "lists", "Tuple": "tuples", "Dict": "dicts", "ExprStmt": "'do'",
}
_ALLOWED = frozenset({
    "Template", "Output", "TemplateData", "Const", "If", "Concat", "Add", "CondExpr", "Compare", "Operand", "And",
    "Or", "Not", "Keyword",
})


class ExpressionError(Exception):
    """An expression that cannot be compiled or rendered; the message says why, for the form's admin or user."""


class _Values(dict[str, Any]):
    """The `values` an expression reads: `values.items` is the field named items, never the dict's method."""


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    """The sandbox, built on first use: Jinja2 takes ~50 ms to import, which every host start would otherwise pay
    (function_app imports the forms routes) though only forms with expressions need it. The sandbox stays as a
    second wall behind the construct whitelist."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Environment(ImmutableSandboxedEnvironment):
        def getattr(self, obj: Any, attribute: str) -> Any:
            if isinstance(obj, _Values):
                return obj[attribute] if attribute in obj else self.undefined(obj=obj, name=attribute)
            return super().getattr(obj, attribute)

    environment = Environment(undefined=StrictUndefined, autoescape=False, finalize=lambda v: "" if v is None else v)
    environment.filters |= {"replace": _replace, "join": _join}
    return environment


def _replace(text: Any, old: Any, new: Any, count: int | None = None) -> str:
    """`replace`, refusing before it builds more than MAX_OUTPUT_CHARS (`replace('a', 'aaaa')` chained multiplies)."""
    text, old, new = str(text), str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    found = found if count is None or count < 0 else min(found, count)
    _bounded(len(text) + found * (len(new) - len(old)), "replace")
    return text.replace(old, new, -1 if count is None else count)


def _join(value: Iterable[Any], separator: Any = "") -> str:
    """`join` (without `attribute`), refusing before it builds more than MAX_OUTPUT_CHARS."""
    items = [str(item) for item in value]
    separator = str(separator)
    _bounded(sum(map(len, items)) + len(separator) * max(len(items) - 1, 0), "join")
    return separator.join(items)


def _bounded(size: int, what: str) -> None:
    if size > MAX_OUTPUT_CHARS:
        raise ExpressionError(f"'{what}' would build {size:,} characters; the limit is {MAX_OUTPUT_CHARS:,}")


@lru_cache(maxsize=512)
def compile_expression(text: str) -> Template:
    """The compiled template, or ExpressionError naming the syntax problem (and its line) or the first construct
    an expression may not use."""
    from jinja2 import TemplateError

    try:
        tree = _environment().parse(text)
    except TemplateError as error:
        raise ExpressionError(f"does not compile: {error.message or error}") from None
    refused = construct_problems(tree)
    if refused:
        raise ExpressionError(refused[0])
    return _environment().from_string(tree)


def problems(text: str) -> list[str]:
    """Why `text` cannot be an expression: its syntax error, or every construct it may not use ([] when none)."""
    syntax = syntax_problem(text)
    return [syntax] if syntax else construct_problems(_environment().parse(text))


def syntax_problem(text: str) -> str | None:
    """Why `text` does not parse, or None when it does (it may still use constructs that are not allowed)."""
    from jinja2 import TemplateError

    try:
        _environment().parse(text)
    except TemplateError as error:
        return f"does not compile: {error.message or error}"
    return None


def problem(text: str) -> str | None:
    """The first of `problems(text)`, or None when it is a valid expression."""
    found = problems(text)
    return found[0] if found else None


def construct_problems(tree: nodes.Template) -> list[str]:
    """Each construct of the parsed expression that is not allowed (see the module's docstring), once."""
    return list(dict.fromkeys(_refused(tree, parent=None)))


def _refused(node: nodes.Node, parent: nodes.Node | None) -> Iterator[str]:
    from jinja2 import nodes

    kind = type(node).__name__
    if isinstance(node, nodes.Name):
        if node.name != "values":
            yield f"reads '{node.name}'; an expression reads only values.<field>"
        elif not isinstance(parent, nodes.Getattr | nodes.Getitem):
            yield "may not use values as a whole (print, filter or loop over it); read values.<field>"
        return
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        yield from _read_problems(node)
        return
    if isinstance(node, nodes.Filter | nodes.Test):
        yield from _call_problems(node)
    elif kind not in _ALLOWED:
        yield f"an expression may not use {_REFUSED.get(kind, kind)}"
        return
    for child in node.iter_child_nodes():
        yield from _refused(child, node)


def _read_problems(node: nodes.Getattr | nodes.Getitem) -> Iterator[str]:
    """`values.<name>` and `values["<name>"]` only: a constant field name, read from values itself."""
    from jinja2 import nodes

    if not (isinstance(node.node, nodes.Name) and node.node.name == "values"):
        yield from _refused(node.node, node)
        yield "reads only values.<field>: not attributes or items of anything else (such as values.a.b)"
    elif isinstance(node, nodes.Getitem) and not (isinstance(node.arg, nodes.Const) and isinstance(node.arg.value,
                                                                                                   str)):
        yield "reads values only by a constant field name: values.<field> or values['<field>']"


def _call_problems(node: nodes.Filter | nodes.Test) -> Iterator[str]:
    allowed, what = (ALLOWED_FILTERS, "filter") if type(node).__name__ == "Filter" else (ALLOWED_TESTS, "test")
    if node.name not in allowed:
        yield f"an expression may not use the {what} '{node.name}' (it may use {', '.join(sorted(allowed))})"
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        yield f"an expression may not pass *args or **kwargs to the {what} '{node.name}'"


def referenced_fields(text: str) -> set[str]:
    """The fields an expression reads as `values.<name>` or `values["<name>"]` (it must parse)."""
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


def render(text: str, values: Mapping[str, Any]) -> str:
    """The expression's text over `values`; ExpressionError saying what failed."""
    template = compile_expression(text)
    for name in sorted(referenced_fields(text)):
        value = values.get(name)
        if len(value if isinstance(value, str) else str(value)) > MAX_INPUT_CHARS:
            raise ExpressionError(f"reads values.{name}, which is longer than {MAX_INPUT_CHARS:,} characters")
    try:
        output = template.render(values=_Values(values))
    except ExpressionError:
        raise
    except Exception as error:  # UndefinedError, SecurityError, a filter's TypeError: all the expression's doing
        raise ExpressionError(f"could not be rendered: {error}") from None
    if len(output) > MAX_OUTPUT_CHARS:
        raise ExpressionError(f"renders {len(output):,} characters; the limit is {MAX_OUTPUT_CHARS:,}")
    return output
