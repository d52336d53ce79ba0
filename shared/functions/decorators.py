"""`@workflow`, `@data_provider` and `@param`: turn a plain function into a registered Conduit function.

Decorators are checked when they are applied, so a mistake (an unknown parameter type, a timeout out of range, a
`@param` naming an argument the function does not take) fails at import time with the function's name in the
message — not at the first execution. The decorated function is returned unchanged and stays directly callable.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from shared.errors import RegistrationError
from shared.functions.registry import (
    PARAM_TYPES,
    FunctionMetadata,
    ParameterMetadata,
    current_source,
    get_registry,
)
from shared.functions.signature import accepts_var_kwargs, inferred_parameters, user_parameter_names
from shared.models import LOG_LEVELS

F = TypeVar("F", bound=Callable[..., Any])

_PARAMS_ATTR = "__conduit_params__"
_REGISTERED_ATTR = "__conduit_registered__"
MIN_TIMEOUT, MAX_TIMEOUT = 1, 7200
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def param(
    name: str,
    type: str = "string",
    *,
    label: str | None = None,
    required: bool = False,
    default_value: Any = None,
    data_provider: str | None = None,
    help_text: str | None = None,
) -> Callable[[F], F]:
    """Declare one input of a workflow or data provider. Place it below `@workflow` / `@data_provider`."""

    def decorate(function: F) -> F:
        where = f"@param('{name}') on {function.__name__}"
        if getattr(function, _REGISTERED_ATTR, False):
            raise RegistrationError(f"{where}: put @param below @workflow/@data_provider, not above it.")
        if type not in PARAM_TYPES:
            raise RegistrationError(f"{where}: unknown type '{type}'; use one of {', '.join(PARAM_TYPES)}.")
        if name not in user_parameter_names(function) and not accepts_var_kwargs(function):
            raise RegistrationError(f"{where}: {function.__name__} has no argument named '{name}'.")
        declared: list[ParameterMetadata] = getattr(function, _PARAMS_ATTR, [])
        if any(p.name == name for p in declared):
            raise RegistrationError(f"{where}: '{name}' is declared twice.")
        spec = ParameterMetadata(
            name=name,
            type=type,
            label=label or name.replace("_", " ").title(),
            required=required,
            default_value=default_value,
            data_provider=data_provider,
            help_text=help_text,
        )
        # Decorators apply bottom-up; prepending keeps the order in which they are written.
        setattr(function, _PARAMS_ATTR, [spec, *declared])
        return function

    return decorate


def workflow(
    name: str | None = None,
    description: str = "",
    *,
    category: str = "General",
    tags: Iterable[str] = (),
    execution_mode: str | None = None,
    timeout_seconds: int = 1800,
    endpoint_enabled: bool = False,
    allowed_methods: Iterable[str] = ("POST",),
    disable_global_key: bool = False,
    public_endpoint: bool = False,
    retry_policy: dict[str, Any] | None = None,
    schedule: str | None = None,
    log_level: str = "INFO",
) -> Callable[[F], F]:
    """Register a function as a workflow. `execution_mode` defaults to sync for endpoints, async otherwise.

    `log_level` is the lowest level its executions store: INFO by default; DEBUG stores the DEBUG lines of
    `context.logger` and of the function's module's logger (never third-party libraries' DEBUG output).
    """

    def decorate(function: F) -> F:
        where = f"@workflow on {function.__name__}"
        mode = execution_mode or ("sync" if endpoint_enabled else "async")
        _check_choice(where, "execution_mode", mode, ("sync", "async"))
        _check_timeout(where, timeout_seconds)
        level = _checked_level(where, log_level)
        methods = tuple(m.upper() for m in allowed_methods)
        for method in methods:
            _check_choice(where, "allowed_methods", method, sorted(HTTP_METHODS))
        metadata = _base_metadata(function, name, description, category, {"workflow", *tags})
        return _register(
            function,
            FunctionMetadata(
                **metadata,
                execution_mode=mode,  # type: ignore[arg-type]
                timeout_seconds=timeout_seconds,
                endpoint_enabled=endpoint_enabled,
                allowed_methods=methods,
                disable_global_key=disable_global_key,
                public_endpoint=public_endpoint,
                retry_policy=retry_policy,
                schedule=schedule,
                log_level=level,
            ),
        )

    return decorate


def data_provider(
    name: str | None = None,
    description: str = "",
    *,
    category: str = "General",
    cache_ttl_seconds: int = 300,
    timeout_seconds: int = 1800,
    log_level: str = "INFO",
) -> Callable[[F], F]:
    """Register a function as a data provider: it returns options (`[{"label", "value"}]`) for form fields.

    `log_level` as for `@workflow`.
    """

    def decorate(function: F) -> F:
        where = f"@data_provider on {function.__name__}"
        if not isinstance(cache_ttl_seconds, int) or cache_ttl_seconds < 0:
            raise RegistrationError(f"{where}: cache_ttl_seconds must be a whole number of seconds >= 0.")
        _check_timeout(where, timeout_seconds)
        level = _checked_level(where, log_level)
        metadata = _base_metadata(function, name, description, category, {"data_provider"})
        return _register(
            function,
            FunctionMetadata(
                **metadata, execution_mode="sync", timeout_seconds=timeout_seconds,
                cache_ttl_seconds=cache_ttl_seconds, log_level=level,
            ),
        )

    return decorate


def _base_metadata(
    function: Callable[..., Any], name: str | None, description: str, category: str, tags: set[str]
) -> dict[str, Any]:
    declared: list[ParameterMetadata] = getattr(function, _PARAMS_ATTR, [])
    return {
        "name": name or function.__name__,
        "function": function,
        "description": description or inspect.getdoc(function) or "",
        "category": category,
        "tags": frozenset(tags),
        "parameters": tuple(declared) + inferred_parameters(function, {p.name for p in declared}),
        "source": current_source(),
    }


def _register(function: F, metadata: FunctionMetadata) -> F:
    get_registry().register(metadata)
    setattr(function, _REGISTERED_ATTR, True)
    return function


def _check_timeout(where: str, timeout_seconds: int) -> None:
    if not isinstance(timeout_seconds, int) or not MIN_TIMEOUT <= timeout_seconds <= MAX_TIMEOUT:
        raise RegistrationError(
            f"{where}: timeout_seconds must be a whole number from {MIN_TIMEOUT} to {MAX_TIMEOUT}, "
            f"got {timeout_seconds!r}."
        )


def _checked_level(where: str, log_level: str) -> str:
    level = log_level.upper() if isinstance(log_level, str) else log_level
    _check_choice(where, "log_level", level, LOG_LEVELS)
    return level


def _check_choice(where: str, field_name: str, value: str, choices: Iterable[str]) -> None:
    allowed = list(choices)
    if value not in allowed:
        raise RegistrationError(f"{where}: {field_name} must be one of {', '.join(allowed)}, got {value!r}.")
