"""Which fields are shown, and the inputs a field's data provider gets, from the form's current values.

Both are evaluated the same way for the options of a dropdown and for a submission: a hidden field has no value, so
a provider input that refers to it (by `field_ref` or in an expression) is empty, and a condition reading it sees
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import FieldError, InputValidationError
from shared.forms import conditions, expressions
from shared.forms.model import FieldRefInput, Form, FormField, StaticInput


def visible_values(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` without those of hidden fields (and of names the form does not have)."""
    shown = visible_names(form, values)
    return {f.name: values[f.name] for f in form.fields if f.name in shown and f.name in values}


def visible_names(form: Form, values: Mapping[str, Any]) -> set[str]:
    """The fields shown for these values.

    Fields are decided in dependency order (a field's condition only reads fields decided before it); saved forms
    have no cycles, and a field met again while being decided counts as hidden, so this always ends."""
    decided: dict[str, bool] = {}
    by_name = {f.name: f for f in form.fields}

    def shown(name: str) -> bool:
        if name not in decided:
            decided[name] = False  # a cycle (never saved) ends here: hidden
            field = by_name[name]
            condition = field.visible_if
            if condition is not None:
                for read in conditions.fields_read(condition) & by_name.keys():
                    shown(read)
            seen = {n: values.get(n) for n, is_shown in decided.items() if is_shown and n in values}
            decided[name] = condition is None or conditions.holds(condition, seen)
        return decided[name]

    return {f.name for f in form.fields if shown(f.name)}


def provider_inputs(form: Form, field: FormField, values: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs of `field`'s provider over `values` (visible values only): static values as given, field
    references as the referenced field's value, expressions rendered. Empty inputs are left out, so the provider's
    own default (or its "is required") applies. InputValidationError names an expression that fails."""
    every = {f.name: values.get(f.name) for f in form.fields}  # StrictUndefined then only catches what is no field
    inputs: dict[str, Any] = {}
    errors: list[FieldError] = []
    for param, source in field.data_provider_inputs.items():
        if isinstance(source, StaticInput):
            value = source.value
        elif isinstance(source, FieldRefInput):
            value = every.get(source.field)
        else:
            try:
                value = expressions.render(source.expression, every)
            except expressions.ExpressionError as error:
                errors.append(FieldError(f"{field.name}.data_provider_inputs.{param}", f"expression {error}"))
                continue
        if not conditions.is_empty(value):
            inputs[param] = value
    if errors:
        raise InputValidationError(errors, f"The inputs of field '{field.name}' could not be resolved")
    return inputs
