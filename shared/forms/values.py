"""Checking the values a user submits, before the linked workflow sees them: every problem at once, per field.

What a browser checks is checked again here, since anything can send a request: required fields, each field's type
and limits, and that a select, multiselect or radio value is one of the field's options — its static ones, or those
its data provider answers for the current values (through the cache, as the dropdown got them), so a forged value is
refused. Hidden fields (`visible_if` false) are neither required nor submitted: their values are dropped.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import EmailStr, TypeAdapter, ValidationError

from shared.errors import FieldError, InputValidationError
from shared.forms import conditions
from shared.forms.inputs import visible_names
from shared.forms.model import CHOICE_TYPES, Form, FormField, Validation

OptionsOf = Callable[[FormField, dict[str, Any]], Awaitable[list[Any]]]  # (field, visible values) -> option values
_EMAIL = TypeAdapter(EmailStr)


class _Refused(ValueError):
    """A value that does not fit its field; the message is for the user."""


async def check_values(form: Form, values: Mapping[str, Any], options_of: OptionsOf) -> dict[str, Any]:
    """The workflow's parameters from `values` (visible fields that carry a value), or InputValidationError with
    a `values.<field>` entry for every problem."""
    errors = [FieldError(f"values.{name}", "this form has no such field") for name in values if not form.field(name)]
    visible = visible_names(form, values)
    shown = {name: value for name, value in values.items() if name in visible}
    accepted: dict[str, Any] = {}
    for field in form.fields:
        value = shown.get(field.name)
        if not field.carries_value:
            if not conditions.is_empty(value):
                errors.append(FieldError(f"values.{field.name}", f"is a {field.type} field, which takes no value"))
            continue
        if field.name not in visible:
            continue  # hidden: neither required nor submitted, whatever the browser kept
        try:
            checked = _checked(field, value)
        except _Refused as refused:
            errors.append(FieldError(f"values.{field.name}", str(refused)))
            continue
        if checked is not None:
            accepted[field.name] = checked
    errors += await _option_errors(form, accepted, options_of)
    if errors:
        raise InputValidationError(errors, "The form's values are not valid")
    return accepted


def _checked(field: FormField, value: Any) -> Any:
    """The value as the workflow gets it (None: not given), or _Refused saying what is wrong."""
    if conditions.is_empty(value) or (field.type == "checkbox" and value is False and field.required):
        if field.required:
            raise _Refused("must be checked" if field.type == "checkbox" else "is required")
        return None
    value = _typed(field, value)
    _within_limits(field.validation, value)
    return value


def _typed(field: FormField, value: Any) -> Any:
    kind = field.type
    if kind in ("text", "textarea", "email", "datetime") and not isinstance(value, str):
        raise _Refused(f"expected text, got {_kind(value)}")
    if kind == "email":
        try:
            return str(_EMAIL.validate_python(value.strip()))
        except ValidationError:
            raise _Refused(f"'{value}' is not a valid email address") from None
    if kind == "datetime":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise _Refused("expected a date and time in ISO 8601, such as 2026-05-01T09:30:00Z") from None
    if kind == "number":
        return _number(value)
    if kind == "checkbox" and not isinstance(value, bool):
        raise _Refused(f"expected true or false, got {_kind(value)}")
    if kind in ("select", "radio") and not _scalar(value):
        raise _Refused(f"expected one option's value, got {_kind(value)}")
    if kind == "multiselect":
        return _choices(value)
    return value


def _choices(value: Any) -> list[Any]:
    """A multiselect's value: option values, each once."""
    if not (isinstance(value, list) and all(_scalar(item) for item in value)):
        raise _Refused(f"expected a list of option values, got {_kind(value)}")
    repeated = [item for i, item in enumerate(value) if any(conditions.json_equal(item, v) for v in value[:i])]
    if repeated:
        raise _Refused(f"lists {_listed(repeated)} more than once")
    return value


def _number(value: Any) -> int | float:
    if isinstance(value, str):
        if "_" in value:  # Python reads "1_0" as 10; a user typing it meant no number
            raise _Refused(f"expected a number, got '{value}'")
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            raise _Refused(f"expected a number, got '{value}'") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Refused(f"expected a number, got {_kind(value)}")
    return value


def _within_limits(rules: Validation | None, value: Any) -> None:
    if rules is None:
        return
    if isinstance(value, int | float) and not isinstance(value, bool):
        if rules.min is not None and value < rules.min:
            raise _Refused(f"must be at least {rules.min:g}")
        if rules.max is not None and value > rules.max:
            raise _Refused(f"must be at most {rules.max:g}")
        return
    noun = "item" if isinstance(value, list) else "character"
    if rules.min_length is not None and len(value) < rules.min_length:
        raise _Refused(f"must have at least {rules.min_length} {noun}{'' if rules.min_length == 1 else 's'}")
    if rules.max_length is not None and len(value) > rules.max_length:
        raise _Refused(f"must have at most {rules.max_length} {noun}{'' if rules.max_length == 1 else 's'}")
    if rules.pattern is not None and isinstance(value, str) and not re.search(rules.pattern, value):
        raise _Refused(f"must match {rules.pattern}")


async def _option_errors(form: Form, accepted: dict[str, Any], options_of: OptionsOf) -> list[FieldError]:
    """A `values.<field>` error for each choice that is not one of its field's options (providers asked at once)."""
    choices = [f for f in form.fields if f.type in CHOICE_TYPES and f.name in accepted]
    answers = await asyncio.gather(*(_options(f, accepted, options_of) for f in choices), return_exceptions=True)
    errors: list[FieldError] = []
    for field, answer in zip(choices, answers, strict=True):
        if isinstance(answer, InputValidationError):
            reasons = "; ".join(f"{e.field} {e.message}" for e in answer.errors)
            errors.append(FieldError(f"values.{field.name}", f"cannot be checked, its options need: {reasons}"))
            continue
        if isinstance(answer, BaseException):
            raise answer  # a provider that failed or timed out: its own error (502/504), not the user's input
        chosen = accepted[field.name] if field.type == "multiselect" else [accepted[field.name]]
        wrong = [item for item in chosen if not any(conditions.json_equal(item, option) for option in answer)]
        if wrong:
            errors.append(FieldError(f"values.{field.name}", f"{_listed(wrong)} is not one of the field's options"))
    return errors


async def _options(field: FormField, accepted: dict[str, Any], options_of: OptionsOf) -> list[Any]:
    if field.options is not None:
        return [option.value for option in field.options]
    return await options_of(field, accepted)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", bool: "a boolean", type(None): "null", str: "text"}
    return names.get(type(value), type(value).__name__)


def _listed(items: list[Any]) -> str:
    return ", ".join(repr(item) for item in items)
