"""`@param(validation={...})`: limits on one input, checked when the decorator is applied, enforced by the input model.

The keys are the seed system's: `min` / `max` (numbers), `min_length` / `max_length` (text: characters; a list:
items), `pattern` (text: a Python regular expression searched for in the value; anchor it with `^...$` to match the
whole value) and `enum` (the allowed values). A key that does not exist or does not fit the parameter's type is a
load error, so a limit is never silently ignored.

Each limit becomes part of the field: pydantic checks min/max/lengths natively; `pattern` is checked with Python's
`re` (the dialect the seed system's users wrote, lookarounds included), `enum` by membership. The JSON Schema keywords
(`minimum`, `maximum`, `minLength`/`maxLength` or `minItems`/`maxItems`, `pattern`, `enum`) are added to the field's
schema, so forms and other clients can check input before sending it.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from shared.errors import RegistrationError
from shared.functions.param_types import invalid, unwrap_annotated

_NUMBERS = ("int", "float")
_LENGTHS = ("string", "email", "list")
# Which parameter types (as `GET /api/workflows` names them) each key applies to.
APPLIES_TO: dict[str, tuple[str, ...]] = {
    "min": _NUMBERS,
    "max": _NUMBERS,
    "min_length": _LENGTHS,
    "max_length": _LENGTHS,
    "pattern": ("string", "email"),
    "enum": ("string", "email", "int", "float"),
}
VALIDATION_KEYS = tuple(APPLIES_TO)


def check_validation(where: str, name: str, type_name: str, validation: Any) -> None:
    """Raise `RegistrationError` unless `validation` is a dict of known keys that fit `type_name`, with sane values."""
    here = f"{where}: parameter '{name}': validation"
    if not isinstance(validation, dict):
        raise RegistrationError(f"{here} must be a dict such as {{'min_length': 3}}, got {validation!r}.")
    for key, value in validation.items():
        if key not in APPLIES_TO:
            raise RegistrationError(f"{here} has an unknown key {key!r}{_suggestion(key)}; use {_keys()}.")
        if type_name not in APPLIES_TO[key]:
            raise RegistrationError(
                f"{here} key '{key}' does not fit its type, {type_name}; '{key}' applies to "
                f"{', '.join(APPLIES_TO[key])} parameters."
            )
        problem = _value_problem(key, value, type_name)
        if problem:
            raise RegistrationError(f"{here} key '{key}' {problem}, got {value!r}.")
    for low, high in (("min", "max"), ("min_length", "max_length")):
        if low in validation and high in validation and validation[low] > validation[high]:
            raise RegistrationError(f"{here}: '{low}' ({validation[low]}) is more than '{high}' ({validation[high]}).")


def _suggestion(key: Any) -> str:
    close = difflib.get_close_matches(str(key), VALIDATION_KEYS, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _keys() -> str:
    return ", ".join(VALIDATION_KEYS)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _value_problem(key: str, value: Any, type_name: str) -> str | None:
    """What is wrong with one key's value, or None."""
    if key in ("min", "max"):
        return None if _is_number(value) else "must be a number"
    if key in ("min_length", "max_length"):
        return None if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else (
            "must be a whole number >= 0"
        )
    if key == "pattern":
        if not isinstance(value, str):
            return "must be a regular expression (text)"
        try:
            re.compile(value)
        except re.error as exc:
            return f"is not a regular expression Python can compile ({exc})"
        return None
    return _enum_problem(value, type_name)


def _enum_problem(value: Any, type_name: str) -> str | None:
    if not isinstance(value, list | tuple) or not value:
        return "must be a non-empty list of the allowed values"
    if type_name in _NUMBERS:
        fits = all(_is_number(v) and (type_name == "float" or isinstance(v, int)) for v in value)
        return None if fits else f"must list {'whole numbers' if type_name == 'int' else 'numbers'} only"
    return None if all(isinstance(v, str) for v in value) else "must list text values only"


def constrained(field_type: Any, type_name: str, validation: dict[str, Any]) -> Any:
    """`field_type` with the (already checked) limits of `validation` attached."""
    native = {
        key: validation[source]
        for key, source in (("ge", "min"), ("le", "max"), ("min_length", "min_length"), ("max_length", "max_length"))
        if source in validation
    }
    after = []
    if "pattern" in validation:
        after.append(AfterValidator(_matches(validation["pattern"])))
    if "enum" in validation:
        after.append(AfterValidator(_one_of(tuple(validation["enum"]))))
    core, rest = unwrap_annotated(field_type)
    # The limits sit next to the core type, before Conduit's coercion, so pydantic checks them natively.
    return Annotated[core, Field(**native), *rest, *after]


def schema_keywords(type_name: str, validation: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON Schema keywords for `validation` (added to the field's schema whatever its type's own schema is)."""
    if not validation:
        return {}
    lengths = ("minItems", "maxItems") if type_name == "list" else ("minLength", "maxLength")
    names = {"min": "minimum", "max": "maximum", "min_length": lengths[0], "max_length": lengths[1],
             "pattern": "pattern", "enum": "enum"}
    return {names[key]: list(value) if key == "enum" else value for key, value in validation.items()}


def _matches(pattern: str) -> Any:
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, str) and compiled.search(value) is None:
            raise invalid(f"must match {pattern}")
        return value

    return check


def _one_of(values: tuple[Any, ...]) -> Any:
    allowed = frozenset(values)
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)

    def check(value: Any) -> Any:
        if value not in allowed:
            raise invalid(f"must be one of {shown}")
        return value

    return check
