"""One pydantic model per function, built once at registration from its `@param`s and its signature.

The model is the single declaration of a function's input: it validates and coerces every execution's parameters
(every problem reported at once, per field) and yields the JSON Schema that `GET /api/workflows`, forms, the OpenAPI
document, the CLI and a UI use. Its fields are named like the parameters; a name pydantic cannot take as a field
(`json`, `schema`, `_x`, `model_id`) becomes an internal field aliased by the parameter name, so it still reads and
reports as that name.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic.json_schema import PydanticJsonSchemaWarning
from pydantic_core import ErrorDetails, PydanticUndefined

from shared.errors import FieldError, InputValidationError, RegistrationError
from shared.functions.constraints import constrained, schema_keywords
from shared.functions.param_types import DECLARED, SUPPORTED, UnsupportedType, from_annotation, plain_json
from shared.functions.registry import ParameterMetadata
from shared.functions.signature import accepts_var_kwargs, parameter_hint, signature_defaults, user_parameter_names
from shared.serialization import MAX_JSON_DEPTH, NOT_FINITE, inspect_json

# pydantic's messages for the basic types, prefixed with what was expected ("expected an integer: Input should ...")
_EXPECTED = {"int": "an integer", "float": "a number", "finite": "a number", "bool": "a boolean"}


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_by_alias=True, validate_by_name=False)



class _InputWithExtras(_Input):
    """For functions taking `**kwargs`: inputs nobody declared are passed through unchecked."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True, eq=False)
class InputModel:
    """A function's input model, the plan to turn a validated instance into keyword arguments, and its schema.

    Fields are named like their parameters where pydantic allows; `renamed` maps the others (`json`, `_x`,
    `model_id`: internal name -> parameter name). `omitted_unless_given` are fields the function's own default
    fills when the caller leaves them out.
    """

    function_name: str
    model: type[BaseModel]
    parameter_names: tuple[str, ...]
    renamed: tuple[tuple[str, str], ...]
    omitted_unless_given: frozenset[str]
    json_schema: dict[str, Any]

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments to call the function with, or `InputValidationError` listing every bad field."""
        errors = [] if _flat(values) else json_field_errors(values)
        flagged = {error.field.split(".")[0] for error in errors}  # reported once, not again by its type's check
        data = {k: v for k, v in values.items() if k not in flagged} if flagged else values
        try:
            instance = self.model.model_validate(data)
        except ValidationError as exc:
            errors += [self._field_error(e) for e in exc.errors(include_url=False) if str(e["loc"][0]) not in flagged]
            instance = None
        if errors or instance is None:
            raise InputValidationError(errors, f"Invalid input for '{self.function_name}'")
        return self._arguments(instance)

    def _arguments(self, instance: BaseModel) -> dict[str, Any]:
        arguments = instance.__dict__.copy()
        if self.omitted_unless_given:
            given = instance.model_fields_set
            for name in self.omitted_unless_given - given:
                del arguments[name]
        for field_name, name in self.renamed:
            if field_name in arguments:
                arguments[name] = arguments.pop(field_name)
        if instance.__pydantic_extra__:
            arguments.update(instance.__pydantic_extra__)
        return arguments

    def _field_error(self, error: ErrorDetails) -> FieldError:
        path = ".".join(str(part) for part in error["loc"])
        kind = error["type"]
        if kind == "missing":
            return FieldError(path, "is required")
        if kind == "extra_forbidden" and len(error["loc"]) == 1:
            accepted = ", ".join(self.parameter_names) or "no parameters"
            return FieldError(path, f"unknown parameter; '{self.function_name}' accepts {accepted}")
        if kind in _LIMITS:
            return FieldError(path, _limit_message(kind, error.get("ctx") or {}))
        expected = _EXPECTED.get(kind.split("_")[0])
        return FieldError(path, f"expected {expected}: {error['msg']}" if expected else error["msg"])


# What a broken limit (from `validation` or an annotation's own Field(ge=...)) says, in the caller's words.
_LIMITS = {
    "greater_than_equal": ("must be at least {}", "ge"),
    "less_than_equal": ("must be at most {}", "le"),
    "greater_than": ("must be more than {}", "gt"),
    "less_than": ("must be less than {}", "lt"),
    "string_too_short": ("must be at least {} character{} long", "min_length"),
    "string_too_long": ("must be at most {} character{} long", "max_length"),
    "too_short": ("must have at least {} item{}", "min_length"),
    "too_long": ("must have at most {} item{}", "max_length"),
    "string_pattern_mismatch": ("must match {}", "pattern"),
}


def _limit_message(kind: str, ctx: dict[str, Any]) -> str:
    template, key = _LIMITS[kind]
    value = ctx.get(key)
    return template.format(value, "" if value == 1 else "s")


def json_field_errors(values: dict[str, Any], root: str = "") -> list[FieldError]:
    """Input is stored as given, so it must be JSON every parser accepts: finite numbers, bounded nesting."""
    check = inspect_json(values, root, max_depth=MAX_JSON_DEPTH)
    errors = [FieldError(path, NOT_FINITE) for path in check.non_finite]
    if check.too_deep is not None:
        errors.append(FieldError(check.too_deep, f"is nested more than {MAX_JSON_DEPTH} levels deep"))
    return errors


def resolve_types(
    where: str, function: Callable[..., Any], parameters: tuple[ParameterMetadata, ...], declared: set[str]
) -> tuple[ParameterMetadata, ...]:
    """Give every parameter declared without `type=` (or not declared at all) its type from the annotation."""
    return tuple(p if p.type is not None else _from_signature(where, function, p, p.name in declared)
                 for p in parameters)


def _from_signature(where: str, function: Callable[..., Any], spec: ParameterMetadata,
                    declared: bool) -> ParameterMetadata:
    try:
        hint = parameter_hint(function, spec.name)
    except Exception as exc:  # a name the module does not define, a typo in a string annotation
        raise RegistrationError(f"{where}: parameter '{spec.name}': its annotation cannot be resolved ({exc}).") \
            from None
    if hint is None:  # unannotated: a @param is text by default; an undeclared argument takes any JSON value
        hint = str if declared else Any
    try:
        _, type_name = from_annotation(hint)
    except UnsupportedType as exc:
        raise RegistrationError(
            f"{where}: parameter '{spec.name}': {exc}; use {SUPPORTED}, or declare @param('{spec.name}', type=...)."
        ) from None
    return replace(spec, type=type_name, annotation=hint)


def build_input_model(
    name: str, description: str, function: Callable[..., Any], parameters: tuple[ParameterMetadata, ...]
) -> InputModel:
    """The model for `parameters` (types already resolved) and how to call `function` with an instance of it."""
    defaults, in_signature = signature_defaults(function), set(user_parameter_names(function))
    fields: dict[str, Any] = {}
    renamed, omitted = [], set()
    for index, spec in enumerate(parameters):
        field_name = spec.name if _usable_field_name(spec.name) else f"p{index}_"
        field_type = DECLARED[spec.type or "string"] if spec.annotation is None else from_annotation(spec.annotation)[0]
        if spec.validation:
            field_type = constrained(field_type, spec.type or "string", spec.validation)
        default, pass_default, show_default = _default_of(spec, defaults, in_signature)
        fields[field_name] = (field_type, Field(
            default,
            alias=spec.name if field_name != spec.name else None,
            title=spec.label or spec.name,
            description=spec.help_text,
            json_schema_extra=_schema_extra(show_default, schema_keywords(spec.type or "string", spec.validation)),
        ))
        if field_name != spec.name:
            renamed.append((field_name, spec.name))
        if not pass_default and not spec.required:
            omitted.add(field_name)
    model = create_model(  # type: ignore[call-overload]
        name,
        __base__=_InputWithExtras if accepts_var_kwargs(function) else _Input,
        __doc__=description or None,
        __validators__={"blank_is_not_given": _blank_is_not_given(frozenset(p.name for p in parameters))},
        **fields,
    )
    names = tuple(p.name for p in parameters)
    return InputModel(name, model, names, tuple(renamed), frozenset(omitted), _schema(model))


def _usable_field_name(name: str) -> bool:
    """A parameter name pydantic takes as a field name as is (no private `_x`, no clash with BaseModel's own)."""
    return name.isidentifier() and not name.startswith(("_", "model_")) and not hasattr(BaseModel, name)


_FLAT_TYPES = frozenset({str, int, bool, type(None)})


def _flat(values: dict[str, Any]) -> bool:
    """Only text, whole numbers, booleans and nulls: nothing non-finite or nested to look for (the usual input)."""
    return all(type(v) in _FLAT_TYPES for v in values.values())


def _default_of(spec: ParameterMetadata, defaults: dict[str, Any], in_signature: set[str]) -> tuple[Any, bool, bool]:
    """(the field's default, pass it when the input is not given, show it in the schema).

    A `None` default is not shown: `"default": null` on a `"type": "string"` field contradicts its own schema, and
    strict JSON Schema tools (form builders) refuse it; not being required says the same."""
    if spec.required:
        return PydanticUndefined, False, True
    if spec.default_value is not None:
        return spec.default_value, True, _shown(spec.default_value)
    if spec.name in defaults:  # the function's own default applies; shown when it is plain data
        return defaults[spec.name], False, _shown(defaults[spec.name])
    # an argument without a default is passed None; one taken through **kwargs is left out
    return None, spec.name in in_signature, False


def _shown(value: Any) -> bool:
    return value is not None and plain_json(value) is not None


def _schema_extra(show_default: bool, keywords: dict[str, Any]) -> Any:
    """What the field adds to its own JSON Schema: its `validation` limits, and no default when it is hidden."""
    if show_default and not keywords:
        return None

    def extra(schema: dict[str, Any]) -> None:
        if not show_default:
            schema.pop("default", None)
        schema.update(keywords)

    return extra


def _blank_is_not_given(declared: frozenset[str]) -> Any:
    """None or "" for a declared input counts as not given (a form's empty field, `?x=`): required or default."""

    def drop_blanks(cls: type[BaseModel], data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in declared or (v is not None and v != "")}
        return data

    return model_validator(mode="before")(drop_blanks)  # type: ignore[arg-type]


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PydanticJsonSchemaWarning)  # a default that is not JSON is left out
        return model.model_json_schema()
