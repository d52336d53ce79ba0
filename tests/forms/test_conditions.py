"""visible_if and provider-input expressions: what the server evaluates, which a browser must match."""

from __future__ import annotations

import random
from typing import Any

import pytest

from shared.errors import FieldError
from shared.forms import conditions, expressions
from shared.forms.inputs import provider_inputs, visible_names
from shared.forms.model import Form


@pytest.mark.parametrize(("condition", "values", "holds"), [
    ({"field": "country", "equals": "de"}, {"country": "de"}, True),
    ({"field": "country", "equals": "de"}, {}, False),
    ({"field": "count", "equals": 1}, {"count": True}, False),  # JSON equality: true is not 1
    ({"field": "count", "equals": 1}, {"count": 1.0}, True),
    ({"field": "count", "equals": 1}, {"count": "1"}, False),
    ({"field": "country", "in": ["de", "nl"]}, {"country": "nl"}, True),
    ({"field": "tags", "not_empty": True}, {"tags": []}, False),
    ({"field": "tags", "not_empty": False}, {"tags": ""}, True),
    ({"all": [{"field": "a", "equals": 1}, {"any": [{"field": "b", "equals": 2}, {"field": "c", "not_empty": True}]}]},
     {"a": 1, "c": "x"}, True),
    ({"any": []}, {}, False),
    ({"not": {"field": "a", "equals": 1}}, {"a": 2}, True),
])
def test_conditions_hold_as_documented(condition: dict, values: dict, holds: bool) -> None:
    assert not conditions.problems(condition, "visible_if")
    assert conditions.holds(condition, values) is holds


@pytest.mark.parametrize(("condition", "where", "message"), [
    ("de", "visible_if", "must be an object"),
    ({"field": "a"}, "visible_if", "needs exactly one of equals, in, not_empty beside field"),
    ({"field": "a", "in": "de"}, "visible_if.in", "must be a list of values"),
    ({"field": "a", "equal": 1}, "visible_if.equal", "unknown key"),
    ({"all": [{"field": "a", "equals": 1}, {"any": {}}]}, "visible_if.all[1].any", "must be a list of conditions"),
    ({"all": [], "any": []}, "visible_if", "use one of all / any"),
    ({"not": {"all": [{"field": "a", "equals": 1}], "any": []}}, "visible_if.not", "use one of all / any"),
])
def test_broken_conditions_are_named_at_their_path(condition: object, where: str, message: str) -> None:
    (problem,) = conditions.problems(condition, "visible_if")
    assert problem.field == where and problem.message.startswith(message)


def test_any_json_is_either_a_condition_or_a_list_of_field_errors() -> None:
    # Given thousands of odd JSON shapes built from the grammar's own keys (seeded: the same ones every run)
    rng = random.Random(10)
    atoms: list[Any] = [None, 0, 1, 2.5, True, False, "", "a", [], {}, [1, "a"], {"b": 1}]
    keys = ["field", "equals", "in", "not_empty", "all", "any", "not", "other"]

    def odd(depth: int = 0) -> Any:
        roll = rng.random()
        if depth > 4 or roll < 0.3:
            return rng.choice(atoms)
        if roll < 0.45:
            return [odd(depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(keys): odd(depth + 1) for _ in range(rng.randint(1, 3))}

    for _ in range(5_000):
        condition = odd()
        # When the grammar checks one, Then it answers field errors only (never raises)
        found = conditions.problems(condition, "visible_if")
        assert all(isinstance(problem, FieldError) for problem in found), condition
        # And one without problems can be read and evaluated
        if not found:
            conditions.fields_read(condition)
            conditions.holds(condition, {"a": 1, "field": "x"})


def test_a_field_below_a_hidden_field_is_hidden_too() -> None:
    # Given c shows when b has a value, and b shows when a is "yes"
    form = Form.model_validate({"name": "chain", "linked_workflow": "w", "fields": [
        {"name": "c", "type": "text", "visible_if": {"field": "b", "not_empty": True}},
        {"name": "b", "type": "text", "visible_if": {"field": "a", "equals": "yes"}},
        {"name": "a", "type": "text"},
    ]})
    # When a is "no" but the browser still holds a value for b, Then b and c are both hidden
    assert visible_names(form, {"a": "no", "b": "kept"}) == {"a"}
    assert visible_names(form, {"a": "yes", "b": "kept"}) == {"a", "b", "c"}


def test_provider_inputs_from_static_field_ref_and_expression() -> None:
    # Given a field whose inputs take each of the three modes
    form = Form.model_validate({"name": "x", "linked_workflow": "w", "fields": [
        {"name": "first", "type": "text"}, {"name": "last", "type": "text"},
        {"name": "pick", "type": "select", "data_provider": "p", "data_provider_inputs": {
            "fixed": {"mode": "static", "value": 3},
            "who": {"mode": "field_ref", "field": "first"},
            "mail": {"mode": "expression", "expression": "{{ values.first }}.{{ values.last }}"},
        }},
    ]})
    pick = form.fields[2]
    # Then each resolves over the current values, and empty inputs are left out
    assert provider_inputs(form, pick, {"first": "ada", "last": "l"}) == {"fixed": 3, "who": "ada", "mail": "ada.l"}
    assert provider_inputs(form, pick, {}) == {"fixed": 3, "mail": "."}


@pytest.mark.parametrize(("text", "message"), [
    ("{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
     "an expression may not use loops ('for')"),
    ("{{ ((9**999)**999)**999 > 1 }}", "an expression may not use '**'"),
    ("{{ values.a * 3 }}", "an expression may not use '*'"),
    ("{{ secret ~ values.a }}", "reads 'secret'; an expression reads only values.<field>"),
    ("{{ values.a.upper() }}", "an expression may not use calls of functions or methods"),
    ("{% set x = 1 %}{{ x }}", "an expression may not use assignments ('set')"),
    ("{% macro m() %}{% endmacro %}", "an expression may not use macros ('macro')"),
    ("{% with x = 1 %}{% endwith %}", "an expression may not use 'with' blocks"),
    ("{{ values[values.key] }}", "reads values only by a constant field name: values.<field> or values['<field>']"),
    ("{{ values | join }}", "may not use values as a whole (print, filter or loop over it); read values.<field>"),
    ("{{ values.a.b }}", "reads only values.<field>: not attributes or items of anything else (such as values.a.b)"),
    ("{{ values.a | center(50000000) }}", "an expression may not use the filter 'center' (it may use capitalize,"),
])
def test_an_expression_may_use_only_cheap_constructs(text: str, message: str) -> None:
    # Given an expression with a construct that could run long, build huge values or read beyond values
    # When it is checked (as a form is saved), Then the construct is named
    assert any(problem.startswith(message) for problem in expressions.problems(text)), expressions.problems(text)
    # And rendering refuses it before running anything (a form stored before the check cannot run it either)
    with pytest.raises(expressions.ExpressionError):
        expressions.render(text, {"a": "x", "key": "a"})


def test_allowed_constructs_render_and_builders_are_bounded() -> None:
    # Given expressions using what is allowed
    values = {"first": "Ada", "last": None, "n": "41", "items": "a field named items", "tags": ["x", "y"]}
    rendered = {text: expressions.render(text, values) for text in (
        "{{ values.first | lower }}.{{ values['last'] | default('none', true) }}",
        "{% if values.n | int + 1 == 42 %}yes{% elif values.first %}first{% else %}no{% endif %}",
        "{{ 'long' if values.first | length > 2 and not values.last else 'short' }}",
        "{{ values.items }}|{{ values.tags | join(',') }}|{{ values.first ~ '-' ~ values.n }}",
        "{{ values.last is none }}",
    )}
    # Then they render as Jinja2 would
    assert list(rendered.values()) == ["ada.none", "yes", "long", "a field named items|x,y|Ada-41", "True"]
    # And replace, join, or a value read, never build or take more than the limits
    for text, read in (("{{ values.a | replace('a', 'aaaaaaaaaa') | replace('a', 'aaaaaaaaaa') }}", "a" * 200),
                       ("{{ values.a | replace('', values.a) }}", "b" * 500),
                       ("{{ values.a | join(values.a) }}", "c" * 500),
                       ("{{ values.a }}", "d" * (expressions.MAX_INPUT_CHARS + 1))):
        with pytest.raises(expressions.ExpressionError):
            expressions.render(text, {"a": read})


def test_expressions_run_in_a_sandbox() -> None:
    # Given expressions that reach for internals or build huge values, Then rendering refuses them
    for text in ("{{ values.__class__.__mro__ }}", "{{ 'x' * 100000 }}", "{{ 10 ** 100000 }}"):
        with pytest.raises(expressions.ExpressionError):
            expressions.render(text, {})
    assert expressions.render("{{ values.a | upper }}", {"a": "ok"}) == "OK"
