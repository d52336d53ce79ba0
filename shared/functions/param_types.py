"""Parameter types: what each `@param(type=...)` and each supported annotation becomes in a function's input model.

A type is a pydantic annotation, so pydantic does the work (in Rust where it can) and the JSON Schema falls out of
it. The declared types keep their query-string coercion: "3" -> 3, "yes" -> True, "a, b" -> ["a", "b"], JSON text
for `json`, lists and models. Messages the caller sees come from `PydanticCustomError("conduit", ...)` or from
pydantic's own message, prefixed with what was expected (see `shared.functions.model`).
"""

from __future__ import annotations

import enum
import json
import types
import typing
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import PydanticCustomError, to_jsonable_python

from shared.serialization import NOT_FINITE, inspect_json, loads_bounded


def invalid(message: str) -> PydanticCustomError:
    """An error whose message is shown to the caller as is."""
    return PydanticCustomError("conduit", "{message}", {"message": message})


def plain_json(value: Any) -> Any:
    """`value` as JSON data (an Enum as its value, a date as ISO text); None when it has no JSON form."""
    try:
        data = to_jsonable_python(value)
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):  # PydanticSerializationError is a ValueError
        return None
    return data


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


def _string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise invalid(f"expected a string, got {_kind(value)}")


def _not_bool(expected: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise invalid(f"expected {expected}, got a boolean")
        return value

    return check


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def json_text(value: Any) -> Any:
    """JSON text becomes what it says (bounded, finite numbers only); anything else passes unchanged."""
    if not isinstance(value, str):
        return value
    try:
        parsed = loads_bounded(value)
    except ValueError as exc:
        raise invalid(f"expected JSON text: {exc}") from None
    if inspect_json(parsed).non_finite:
        raise invalid(f"expected JSON text: numbers in it {NOT_FINITE}")
    return parsed


def _list(value: Any) -> Any:
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            parsed = json_text(text)
            if isinstance(parsed, list):
                return parsed
        return [item.strip() for item in text.split(",")] if text else []
    raise invalid(f"expected a list, got {_kind(value)}")


_email = TypeAdapter(EmailStr)


def _email_address(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"expected an email address, got {_kind(value)}")
    try:
        return str(_email.validate_python(value.strip()))
    except ValidationError:
        raise invalid(f"'{value}' is not a valid email address") from None


String = Annotated[str, BeforeValidator(_string)]
Integer = Annotated[int, BeforeValidator(_not_bool("an integer"))]
# "nan", "inf", "1e400" are not numbers here: input is stored as JSON, which cannot hold them.
Number = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(_not_bool("a number"))]
Boolean = Annotated[bool, BeforeValidator(_stripped)]
Json = Annotated[Any, BeforeValidator(json_text)]
# A before-validator (not a plain one), so `validation` limits on the text after it still apply.
Email = Annotated[str, BeforeValidator(_email_address), WithJsonSchema({"type": "string", "format": "email"})]


def list_of(item: Any) -> Any:
    """A list from a list, a JSON list or comma-separated text; each item validated as `item`."""
    return Annotated[list[item], BeforeValidator(_list)]  # type: ignore[valid-type]


DECLARED: dict[str, Any] = {
    "string": String,
    "int": Integer,
    "bool": Boolean,
    "float": Number,
    "json": Json,
    "list": list_of(Any),
    "email": Email,
}
PARAM_TYPES = tuple(DECLARED)

_SCALARS: dict[Any, tuple[Any, str]] = {
    str: (String, "string"),
    int: (Integer, "int"),
    float: (Number, "float"),
    bool: (Boolean, "bool"),
    datetime: (datetime, "datetime"),
    date: (date, "date"),
    Any: (Json, "json"),
    dict: (Json, "json"),
    list: (list_of(Any), "list"),
}
SUPPORTED = (
    "str, int, float, bool, EmailStr, datetime, date, Literal[...], an Enum, list[...], dict[str, ...], "
    "a pydantic model, Any, or one of them | None"
)


class UnsupportedType(TypeError):
    """An annotation Conduit cannot turn into an input field."""


def from_annotation(hint: Any) -> tuple[Any, str]:
    """(the pydantic type, the type name `GET /api/workflows` shows) for a resolved annotation."""
    hint, extras = unwrap_annotated(hint)
    field_type, name = _from_plain(hint)
    if not extras:
        return field_type, name
    # The annotation's own constraints (Field(ge=1), ...) go next to the core type, before Conduit's coercion, so
    # pydantic checks them natively and the schema shows them as `minimum`, `maxLength`, ...
    core, coercion = unwrap_annotated(field_type)
    return Annotated[core, *extras, *coercion], name


def unwrap_annotated(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    if typing.get_origin(hint) is Annotated:
        return hint.__origin__, hint.__metadata__
    return hint, ()


def _from_plain(hint: Any) -> tuple[Any, str]:  # noqa: C901 - one branch per kind of annotation
    if hint is EmailStr:
        return Email, "email"
    if hint in _SCALARS:
        return _SCALARS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return _union(args)
    if origin is Literal:
        if not all(isinstance(a, str | int | bool) for a in args):
            raise UnsupportedType(f"Literal values must be strings, numbers or booleans, got {hint!r}")
        return Annotated[hint, BeforeValidator(_choice_from_text(args))], "choice"
    if origin is list:
        return list_of(from_annotation(args[0])[0] if args else Any), "list"
    if origin is dict:
        if args and args[0] is not str:
            raise UnsupportedType(f"object keys are text: use dict[str, ...], not {hint!r}")
        value = from_annotation(args[1])[0] if args else Any
        return Annotated[dict[str, value], BeforeValidator(json_text)], "json"  # type: ignore[valid-type]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint, "choice"
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return Annotated[hint, BeforeValidator(json_text)], "object"
    raise UnsupportedType(f"the type {_name(hint)} is not supported")


def _union(args: tuple[Any, ...]) -> tuple[Any, str]:
    """`X | None` is X (None counts as not given); a union of several types is validated by pydantic as one."""
    members = [a for a in args if a is not type(None)]
    if len(members) == 1:
        return from_annotation(members[0])
    for member in members:
        from_annotation(member)  # each must be supported on its own
    expected = " or ".join(_name(member) for member in members)
    return Annotated[Union[tuple(members)], WrapValidator(_one_of(expected))], "json"  # noqa: UP007 - from a tuple


def _choice_from_text(values: tuple[Any, ...]) -> Any:
    """A number or boolean choice also as text ("2" -> 2, "true" -> True), as `int` and `bool` parameters are."""
    by_text = {str(v).lower(): v for v in values if not isinstance(v, str)}

    def coerce(value: Any) -> Any:
        if isinstance(value, str) and value not in values:
            return by_text.get(value.strip().lower(), value)
        return value

    return coerce


def _one_of(expected: str) -> Any:
    """One error for the field, not one per member (`u.int`, `u.str`): the caller's field is `u`."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise invalid(f"expected {expected}") from None

    return validate


def _name(hint: Any) -> str:
    return getattr(hint, "__qualname__", None) or repr(hint)
