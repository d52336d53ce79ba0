"""What a data provider must return: options a dropdown can show and a form can send back and compare."""

from __future__ import annotations

import pytest

from shared.engine.options import options_problems


@pytest.mark.parametrize(
    ("returned", "problem"),
    [
        ({"label": "a", "value": 1}, "expected a list"),
        (["a", "b"], "item 0 is str"),
        ([{"label": "a"}], "item 0 has no 'value'"),
        ([{"value": 1}], "item 0 has no 'label'"),
        ([{"label": 1, "value": 1}], "label that is int"),
        ([{"label": "a", "value": None}], "value that is null"),
        ([{"label": "a", "value": {"id": 1}}], "value that is an object"),
        ([{"label": "a", "value": [1, 2]}], "value that is a list"),
        ([{"label": "a", "value": 1, "metadata": "x"}], "metadata that is not an object"),
    ],
)
def test_a_return_value_that_is_not_options_is_named(returned, problem) -> None:
    # When a provider's value is checked
    found = options_problems(returned)
    # Then the problem is named, with the item it is in
    assert found and problem in found[0]


def test_options_with_text_number_and_boolean_values_pass() -> None:
    options = [{"label": "a", "value": "a"}, {"label": "b", "value": 2, "description": "two"},
               {"label": "c", "value": 2.5, "metadata": {"k": 1}}, {"label": "d", "value": True}]
    assert options_problems(options) == []


def test_only_the_first_few_problems_are_listed() -> None:
    assert options_problems([1] * 50)[-1] == "…" and len(options_problems([1] * 50)) == 6
