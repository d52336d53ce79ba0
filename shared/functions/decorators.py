"""`@workflow`, `@data_provider` and `@param`: turn a plain function into a registered Conduit function.

Decorators are checked when they are applied, so a mistake (an unknown parameter type, an annotation Conduit cannot
validate, a timeout out of range, a bad cron schedule, a `@param` naming an argument the function does not take)
fails at import time with the function's name in the message — not at the first execution. Registration builds the
function's input model once (`shared.functions.model`). The decorated function is returned unchanged and stays
directly callable.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from shared.errors import RegistrationError
from shared.functions.host_timeout import ENGINE_MARGIN_SECONDS, read_host_timeout
from shared.functions.model import build_input_model, resolve_types
from shared.functions.param_types import PARAM_TYPES
from shared.functions.registry import FunctionMetadata, ParameterMetadata, current_source, get_registry
from shared.functions.retry_policy import check_retry_policy
from shared.functions.schedule import check_schedule
from shared.functions.signature import accepts_var_kwargs, inferred_parameters, user_parameter_names
from shared.models import LOG_LEVELS

F = TypeVar("F", bound=Callable[..., Any])

_PARAMS_ATTR = "__conduit_params__"
_REGISTERED_ATTR = "__conduit_registered__"
HOST_TIMEOUT = read_host_timeout()
MIN_TIMEOUT = 1
# The longest timeout_seconds: it ends, outcome recorded, before the host's functionTimeout recycles the worker.
MAX_TIMEOUT = max(MIN_TIMEOUT, HOST_TIMEOUT.seconds - ENGINE_MARGIN_SECONDS)
# timeout_seconds when a function gives none: 30 minutes, or the cap when the host's functionTimeout is shorter (a
# default the user never wrote must not make the function fail to load).
DEFAULT_TIMEOUT = 1800
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def param(
    name: str,
    type: str | None = None,
    *,
    label: str | None = None,
    required: bool = False,
    default_value: Any = None,
    data_provider: str | None = None,
    help_text: str | None = None,
) -> Callable[[F], F]:
    """Declare one input of a workflow or data provider. Place it below `@workflow` / `@data_provider`.

    Without `type`, the argument's annotation gives the type (`string` when it has none).
    """

    def decorate(function: F) -> F:
        where = f"@param('{name}') on {function.__name__}"
        if getattr(function, _REGISTERED_ATTR, False):
            raise RegistrationError(f"{where}: put @param below @workflow/@data_provider, not above it.")
        if type is not None and type not in PARAM_TYPES:
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
    timeout_seconds: int | None = None,
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
        where = _where("@workflow", function, name)
        mode = execution_mode or ("sync" if endpoint_enabled else "async")
        _check_choice(where, "execution_mode", mode, ("sync", "async"))
        timeout = _timeout(where, timeout_seconds)
        level = _checked_level(where, log_level)
        policy, cron = _checked(where, check_retry_policy, retry_policy), _checked(where, check_schedule, schedule)
        methods = tuple(m.upper() for m in allowed_methods)
        for method in methods:
            _check_choice(where, "allowed_methods", method, sorted(HTTP_METHODS))
        metadata = _base_metadata(where, function, name, description, category, {"workflow", *tags})
        return _register(
            function,
            FunctionMetadata(
                **metadata,
                execution_mode=mode,  # type: ignore[arg-type]
                timeout_seconds=timeout,
                endpoint_enabled=endpoint_enabled,
                allowed_methods=methods,
                disable_global_key=disable_global_key,
                public_endpoint=public_endpoint,
                retry_policy=policy,
                schedule=cron,
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
    timeout_seconds: int | None = None,
    log_level: str = "INFO",
) -> Callable[[F], F]:
    """Register a function as a data provider: it returns options (`[{"label", "value"}]`) for form fields.

    `log_level` as for `@workflow`.
    """

    def decorate(function: F) -> F:
        where = _where("@data_provider", function, name)
        if not isinstance(cache_ttl_seconds, int) or cache_ttl_seconds < 0:
            raise RegistrationError(f"{where}: cache_ttl_seconds must be a whole number of seconds >= 0.")
        timeout = _timeout(where, timeout_seconds)
        level = _checked_level(where, log_level)
        metadata = _base_metadata(where, function, name, description, category, {"data_provider"})
        return _register(
            function,
            FunctionMetadata(
                **metadata, execution_mode="sync", timeout_seconds=timeout,
                cache_ttl_seconds=cache_ttl_seconds, log_level=level,
            ),
        )

    return decorate


def _where(decorator: str, function: Callable[..., Any], name: str | None) -> str:
    """How errors name the function: by its Python name, and by its registered name when that differs."""
    registered = f" ('{name}')" if name and name != function.__name__ else ""
    return f"{decorator} on {function.__name__}{registered}"


def _base_metadata(
    where: str, function: Callable[..., Any], name: str | None, description: str, category: str, tags: set[str]
) -> dict[str, Any]:
    declared: list[ParameterMetadata] = getattr(function, _PARAMS_ATTR, [])
    names = {p.name for p in declared}
    parameters = resolve_types(where, function, tuple(declared) + inferred_parameters(function, names), names)
    name = name or function.__name__
    description = description or inspect.getdoc(function) or ""
    return {
        "name": name,
        "function": function,
        "description": description,
        "category": category,
        "tags": frozenset(tags),
        "parameters": parameters,
        "source": current_source(),
        "input_model": build_input_model(name, description, function, parameters),
    }


def _register(function: F, metadata: FunctionMetadata) -> F:
    get_registry().register(metadata)
    setattr(function, _REGISTERED_ATTR, True)
    return function


def _timeout(where: str, timeout_seconds: int | None) -> int:
    """The function's timeout: as given (checked against the cap), else the default within the cap."""
    if timeout_seconds is None:
        return min(DEFAULT_TIMEOUT, MAX_TIMEOUT)
    _check_timeout(where, timeout_seconds)
    return timeout_seconds


def _check_timeout(where: str, timeout_seconds: int) -> None:
    if isinstance(timeout_seconds, int) and not isinstance(timeout_seconds, bool) and timeout_seconds > MAX_TIMEOUT:
        raise RegistrationError(
            f"{where}: timeout_seconds may be at most {MAX_TIMEOUT} ({MAX_TIMEOUT / 60:g} minutes), got "
            f"{timeout_seconds}: {HOST_TIMEOUT.source} is {HOST_TIMEOUT.text} and the engine keeps "
            f"{ENGINE_MARGIN_SECONDS} s to record the outcome before the host recycles the worker."
        )
    if not isinstance(timeout_seconds, int) or isinstance(timeout_seconds, bool) or timeout_seconds < MIN_TIMEOUT:
        raise RegistrationError(
            f"{where}: timeout_seconds must be a whole number from {MIN_TIMEOUT} to {MAX_TIMEOUT}, "
            f"got {timeout_seconds!r}."
        )


def _checked(where: str, check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise RegistrationError(f"{where}: {exc}.") from None


def _checked_level(where: str, log_level: str) -> str:
    level = log_level.upper() if isinstance(log_level, str) else log_level
    _check_choice(where, "log_level", level, LOG_LEVELS)
    return level


def _check_choice(where: str, field_name: str, value: str, choices: Iterable[str]) -> None:
    allowed = list(choices)
    if value not in allowed:
        raise RegistrationError(f"{where}: {field_name} must be one of {', '.join(allowed)}, got {value!r}.")
