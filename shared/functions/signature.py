"""What a user function's signature tells Conduit: where the context goes and which inputs it takes."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shared.functions.registry import ParameterMetadata


@lru_cache(maxsize=4096)
def _signature(function: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(function)


@dataclass(frozen=True)
class CallShape:
    """How to call a function, worked out once per function rather than per execution."""

    takes_context: bool
    is_async: bool
    accepts_var_kwargs: bool
    names_without_default: frozenset[str]


@lru_cache(maxsize=4096)
def call_shape(function: Callable[..., Any]) -> CallShape:
    return CallShape(
        takes_context=takes_context(function),
        is_async=inspect.iscoroutinefunction(function),
        accepts_var_kwargs=accepts_var_kwargs(function),
        names_without_default=names_without_default(function),
    )


def takes_context(function: Callable[..., Any]) -> bool:
    """True when the first parameter is annotated `ExecutionContext` (any name) or is named `context`."""
    params = list(_signature(function).parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        return False
    first = params[0]
    annotation = first.annotation
    annotation_name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return first.name == "context" or str(annotation_name).split(".")[-1] == "ExecutionContext"


def _input_parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    params = list(_signature(function).parameters.values())
    if takes_context(function):
        params = params[1:]
    return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def user_parameter_names(function: Callable[..., Any]) -> list[str]:
    """Names of the inputs a caller may pass (everything but the context and *args/**kwargs)."""
    return [p.name for p in _input_parameters(function)]


def names_without_default(function: Callable[..., Any]) -> frozenset[str]:
    """Inputs the function cannot be called without; an optional `@param` left out is passed as None for these."""
    return frozenset(p.name for p in _input_parameters(function) if p.default is p.empty)


def accepts_var_kwargs(function: Callable[..., Any]) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in _signature(function).parameters.values())


def signature_defaults(function: Callable[..., Any]) -> dict[str, Any]:
    """The default of every input that has one, as the signature gives it."""
    return {p.name: p.default for p in _input_parameters(function) if p.default is not p.empty}


def parameter_hint(function: Callable[..., Any], name: str) -> Any:
    """The resolved annotation of one input (None when it has none), whether or not the module postpones
    annotations (`from __future__ import annotations`). Only this input's annotation is resolved, so a return type
    or context type imported under `TYPE_CHECKING` does not matter.
    """
    parameter = _signature(function).parameters.get(name)
    if parameter is None or parameter.annotation is parameter.empty:
        return None
    holder = _Annotations({name: parameter.annotation})
    unwrapped = inspect.unwrap(function)
    hints = typing.get_type_hints(holder, globalns=getattr(unwrapped, "__globals__", {}), include_extras=True)
    return hints[name]


class _Annotations:
    """Something `typing.get_type_hints` resolves: just the annotations asked for."""

    def __init__(self, annotations: dict[str, Any]) -> None:
        self.__annotations__ = annotations


def inferred_parameters(function: Callable[..., Any], declared: set[str]) -> tuple[ParameterMetadata, ...]:
    """Inputs the signature has but no `@param` declares: typed from the annotation, required if no default.

    The type comes from the annotation (`shared.functions.param_types`); `type` is its name in listings.
    """
    inferred = []
    for p in _input_parameters(function):
        if p.name in declared:
            continue
        has_default = p.default is not p.empty
        inferred.append(
            ParameterMetadata(
                name=p.name,
                type=None,
                label=p.name.replace("_", " ").title(),
                required=not has_default,
                default_value=p.default if has_default else None,
            )
        )
    return tuple(inferred)
