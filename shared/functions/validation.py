"""Check and coerce an execution's parameters against the function's `@param` declarations.

Every problem is collected, so the caller learns about all wrong fields at once, and nothing reaches user code
until the whole input is valid. Query-string style values are coerced: "3" -> 3, "true" -> True, "a,b" -> [a, b].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import EmailStr, Field, TypeAdapter, ValidationError

from shared.errors import FieldError, InputValidationError
from shared.functions.registry import FunctionMetadata, ParameterMetadata
from shared.functions.signature import call_shape
from shared.serialization import MAX_JSON_DEPTH, NOT_FINITE, inspect_json, loads_bounded

Coercer = Callable[[Any], Any]

_int = TypeAdapter(int)
_float = TypeAdapter(Annotated[float, Field(allow_inf_nan=False)])  # "nan", "inf", "1e400" are not numbers here
_bool = TypeAdapter(bool)
_email = TypeAdapter(EmailStr)


class _Invalid(ValueError):
    """A value that does not fit its declared type; the message is shown to the caller."""


def _adapt(adapter: TypeAdapter[Any], expected: str) -> Coercer:
    def coerce(value: Any) -> Any:
        if isinstance(value, bool) and expected != "a boolean":
            raise _Invalid(f"expected {expected}, got a boolean")
        try:
            return adapter.validate_python(value.strip() if isinstance(value, str) else value)
        except ValidationError as exc:
            raise _Invalid(f"expected {expected}: {exc.errors()[0]['msg']}") from None

    return coerce


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Invalid(f"expected a string, got {_kind(value)}")


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = loads_bounded(value)
    except ValueError as exc:
        raise _Invalid(f"expected JSON text: {exc}") from None
    if inspect_json(parsed).non_finite:
        raise _Invalid(f"expected JSON text: numbers in it {NOT_FINITE}")
    return parsed


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            parsed = _json(text)
            if isinstance(parsed, list):
                return parsed
        return [item.strip() for item in text.split(",")] if text else []
    raise _Invalid(f"expected a list, got {_kind(value)}")


def _email_address(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected an email address, got {_kind(value)}")
    try:
        return str(_email.validate_python(value.strip()))
    except ValidationError:
        raise _Invalid(f"'{value}' is not a valid email address") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


COERCERS: dict[str, Coercer] = {
    "string": _string,
    "int": _adapt(_int, "an integer"),
    "float": _adapt(_float, "a number"),
    "bool": _adapt(_bool, "a boolean"),
    "json": _json,
    "list": _list,
    "email": _email_address,
}


def validate_parameters(metadata: FunctionMetadata, values: dict[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments to call the function with, or `InputValidationError` listing every bad field."""
    shape = call_shape(metadata.function)
    if not values and not metadata.parameters:
        return {}
    values = dict(values or {})
    errors = json_field_errors(values)
    flagged = {error.field.split(".")[0] for error in errors}  # reported once, not again by its type's check
    arguments: dict[str, Any] = {}
    needs_value = shape.names_without_default
    for spec in metadata.parameters:
        present = spec.name in values and values[spec.name] is not None and values[spec.name] != ""
        if present:
            value = values.pop(spec.name)
            if spec.name not in flagged:
                _coerce_into(arguments, errors, spec, value)
            continue
        values.pop(spec.name, None)
        if spec.required:
            errors.append(FieldError(spec.name, "is required"))
        elif spec.default_value is not None:
            arguments[spec.name] = spec.default_value
        elif spec.name in needs_value:
            arguments[spec.name] = None
    if values and not shape.accepts_var_kwargs:
        accepted = ", ".join(p.name for p in metadata.parameters) or "no parameters"
        errors += [FieldError(name, f"unknown parameter; '{metadata.name}' accepts {accepted}") for name in values]
    else:
        arguments.update(values)
    if errors:
        raise InputValidationError(errors, f"Invalid input for '{metadata.name}'")
    return arguments


def json_field_errors(values: dict[str, Any], root: str = "") -> list[FieldError]:
    """Input is stored as given, so it must be JSON every parser accepts: finite numbers, bounded nesting."""
    check = inspect_json(values, root, max_depth=MAX_JSON_DEPTH)
    errors = [FieldError(path, NOT_FINITE) for path in check.non_finite]
    if check.too_deep is not None:
        errors.append(FieldError(check.too_deep, f"is nested more than {MAX_JSON_DEPTH} levels deep"))
    return errors


def _coerce_into(arguments: dict[str, Any], errors: list[FieldError], spec: ParameterMetadata, value: Any) -> None:
    try:
        arguments[spec.name] = COERCERS[spec.type](value)
    except _Invalid as exc:
        errors.append(FieldError(spec.name, str(exc)))
