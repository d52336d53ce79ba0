"""Submitted values: types, limits and options of every kind of field, every problem at once."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import InputValidationError
from shared.forms.model import Form, FormField
from shared.forms.values import check_values

FORM = Form.model_validate({"name": "all kinds", "linked_workflow": "w", "fields": [
    {"name": "count", "type": "number", "validation": {"min": 1, "max": 10}},
    {"name": "agree", "type": "checkbox", "required": True},
    {"name": "mail", "type": "email"},
    {"name": "when", "type": "datetime"},
    {"name": "code", "type": "text", "validation": {"pattern": "^[A-Z]{3}$"}},
    {"name": "colours", "type": "multiselect", "validation": {"max_length": 2},
     "options": [{"label": "Red", "value": "red"}, {"label": "Blue", "value": "blue"}, {"label": "Green", "value": 3}]},
    {"name": "size", "type": "radio", "options": [{"label": "S", "value": "s"}]},
    {"name": "intro", "type": "markdown"},
]})


async def no_provider(field: FormField, values: dict[str, Any]) -> list[Any]:
    raise AssertionError("static options only")


async def test_good_values_become_the_workflows_parameters() -> None:
    values = {"count": "3", "agree": True, "mail": "Ada@Example.COM", "when": "2026-05-01T09:30:00Z",
              "code": "ABC", "colours": ["red", 3], "size": "s", "intro": None}
    assert await check_values(FORM, values, no_provider) == {
        "count": 3, "agree": True, "mail": "Ada@example.com", "when": "2026-05-01T09:30:00Z", "code": "ABC",
        "colours": ["red", 3], "size": "s"}


async def test_every_bad_value_is_named_at_once() -> None:
    values = {"count": 11, "agree": False, "mail": "not-mail", "when": "tomorrow", "code": "abcd",
              "colours": ["red", "blue", "3"], "size": "xl", "intro": "text"}
    with pytest.raises(InputValidationError) as caught:
        await check_values(FORM, values, no_provider)
    assert {e.field: e.message for e in caught.value.errors} == {
        "values.count": "must be at most 10",
        "values.agree": "must be checked",
        "values.mail": "'not-mail' is not a valid email address",
        "values.when": "expected a date and time in ISO 8601, such as 2026-05-01T09:30:00Z",
        "values.code": "must match ^[A-Z]{3}$",
        "values.colours": "must have at most 2 items",
        "values.size": "'xl' is not one of the field's options",
        "values.intro": "is a markdown field, which takes no value",
    }


async def test_a_repeated_choice_and_a_number_with_underscores_are_refused() -> None:
    with pytest.raises(InputValidationError) as caught:
        await check_values(FORM, {"agree": True, "count": "1_0", "colours": ["red", "red"]}, no_provider)
    assert {e.field: e.message for e in caught.value.errors} == {
        "values.count": "expected a number, got '1_0'",
        "values.colours": "lists 'red' more than once",
    }
