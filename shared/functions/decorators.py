"""`@workflow`, `@data_provider` and `@param`: turn a plain function into a registered Conduit function.

`@workflow` and `@data_provider` work bare or with arguments; `name` defaults to the function's name. `@param` takes
the seed system's positional order (name, type, label, required, validation, data_provider, default_value,
help_text) as well as keywords, and sits below `@workflow` / `@data_provider`.

Decorators are checked when they are applied, so a mistake (an unknown or seed-only argument, a decorator on
something that is not a function, an unknown parameter type or validation key, an annotation Conduit cannot
validate, a timeout out of range, a bad cron schedule, a `@param` naming an argument the function does not take)
fails at import time with a `RegistrationError` naming the decorator, the function, the problem and the file and
line — not at the first execution, and never as a bare `TypeError`. Registration builds the function's input model
once (`shared.functions.model`). The decorated function is returned unchanged and stays directly callable.
"""

from __future__ import annotations

import contextlib
import inspect
import reprlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, overload

from shared.errors import InputValidationError, RegistrationError
from shared.functions.arguments import unknown_arguments_problem
from shared.functions.constraints import check_validation
from shared.functions.host_timeout import ENGINE_MARGIN_SECONDS, read_host_timeout
from shared.functions.model import build_input_model, resolve_types
from shared.functions.param_types import PARAM_TYPES
from shared.functions.registry import (
    FunctionMetadata,
    ParameterMetadata,
    current_source,
    get_registry,
    location_of,
)
from shared.functions.retry_policy import check_retry_policy
from shared.functions.schedule import DEFAULT_GRACE_SECONDS, DEFAULT_MAX_CATCH_UP, check_schedule_options
from shared.functions.signature import accepts_var_kwargs, inferred_parameters, user_parameter_names
from shared.functions.webhooks import check_webhook
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
KINDS = ("workflow", "data_provider")  # the tags that say how a function may be used

PARAM_ARGUMENTS = ("name", "type", "label", "required", "validation", "data_provider", "default_value", "help_text")
WORKFLOW_ARGUMENTS = (
    "name", "description", "category", "tags", "execution_mode", "timeout_seconds", "endpoint_enabled",
    "allowed_methods", "disable_global_key", "public_endpoint", "retry_policy", "schedule", "log_level",
    "webhook_secret", "webhook_signature", "webhook_delivery_header", "schedule_timezone", "schedule_inputs",
    "catch_up", "max_catch_up", "grace_seconds", "overlap",
)
DATA_PROVIDER_ARGUMENTS = (
    "name", "description", "category", "tags", "cache_ttl_seconds", "timeout_seconds", "log_level", "cache_scope",
    "stale_while_revalidate_seconds",
)
CACHE_SCOPES = ("organization", "user")
# A provider fills a dropdown while someone waits: its own default timeout is short.
DEFAULT_PROVIDER_TIMEOUT = 30


def param(
    name: str,
    type: str | None = None,
    label: str | None = None,
    required: bool = False,
    validation: dict[str, Any] | None = None,
    data_provider: str | None = None,
    default_value: Any = None,
    help_text: str | None = None,
    *extra: Any,
    **unknown: Any,
) -> Callable[[F], F]:
    """Declare one input of a workflow or data provider. Place it below `@workflow` / `@data_provider`.

    Without `type`, the argument's annotation gives the type (`string` when it has none). `validation` limits the
    value (`shared.functions.constraints`): min, max, min_length, max_length, pattern, enum.
    """
    if not isinstance(name, str):  # a bare `@param`, or the name left out
        with _located(name):
            raise RegistrationError(
                f"@param on {_describe(name)}: the argument's name comes first, e.g. "
                f"@param('email', 'email', 'Work email')."
            )

    def decorate(function: F) -> F:
        with _located(function):
            where = f"@param('{name}') on {_describe(function)}"
            _check_target("@param", function)
            if getattr(function, _REGISTERED_ATTR, False):
                raise RegistrationError(f"{where}: put @param below @workflow/@data_provider, not above it.")
            _check_call(where, "@param", extra, unknown, PARAM_ARGUMENTS, positional=len(PARAM_ARGUMENTS))
            if inspect.isclass(type):  # @param("n", int): the Python type, not its name
                raise RegistrationError(
                    f"{where}: type is a name such as 'int', not the Python type {type.__name__}; or leave type "
                    f"out and annotate the argument."
                )
            if type is not None and type not in PARAM_TYPES:
                raise RegistrationError(f"{where}: unknown type {type!r}; use one of {', '.join(PARAM_TYPES)}.")
            _check_texts(where, label=label, data_provider=data_provider, help_text=help_text)
            _check_flags(where, required=required)
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
            validation=validation,
        )
        # Decorators apply bottom-up; prepending keeps the order in which they are written.
        setattr(function, _PARAMS_ATTR, [spec, *declared])
        get_registry().note_params(function)
        return function

    return decorate


@overload
def workflow(name: F, /) -> F: ...


@overload
def workflow(
    name: str | None = None,
    description: str | None = None,
    *,
    category: str = "General",
    tags: Iterable[str] | None = (),
    execution_mode: str | None = None,
    timeout_seconds: int | None = None,
    endpoint_enabled: bool = False,
    allowed_methods: Iterable[str] | None = ("POST",),
    disable_global_key: bool = False,
    public_endpoint: bool = False,
    retry_policy: dict[str, Any] | None = None,
    schedule: str | None = None,
    log_level: str = "INFO",
    webhook_secret: str | None = None,
    webhook_signature: str | None = None,
    webhook_delivery_header: str | None = None,
    schedule_timezone: str | None = None,
    schedule_inputs: dict[str, Any] | None = None,
    catch_up: str = "latest",
    max_catch_up: int = DEFAULT_MAX_CATCH_UP,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
    overlap: str = "skip",
) -> Callable[[F], F]: ...


def workflow(
    name: Any = None,
    description: Any = None,
    *extra: Any,
    category: Any = "General",
    tags: Any = (),
    execution_mode: Any = None,
    timeout_seconds: Any = None,
    endpoint_enabled: Any = False,
    allowed_methods: Any = ("POST",),
    disable_global_key: Any = False,
    public_endpoint: Any = False,
    retry_policy: Any = None,
    schedule: Any = None,
    log_level: Any = "INFO",
    webhook_secret: Any = None,
    webhook_signature: Any = None,
    webhook_delivery_header: Any = None,
    schedule_timezone: Any = None,
    schedule_inputs: Any = None,
    catch_up: Any = "latest",
    max_catch_up: Any = DEFAULT_MAX_CATCH_UP,
    grace_seconds: Any = DEFAULT_GRACE_SECONDS,
    overlap: Any = "skip",
    **unknown: Any,
) -> Any:
    """Register a function as a workflow: `@workflow` or `@workflow(...)`. `execution_mode` defaults to sync for
    endpoints, async otherwise.

    `log_level` is the lowest level its executions store: INFO by default; DEBUG stores the DEBUG lines of
    `context.logger` and of the function's module's logger (never third-party libraries' DEBUG output).

    `webhook_secret` (a config key's name) and `webhook_signature` ("github", "stripe", "slack", "conduit") make an
    endpoint signed: it takes a request only when its signature verifies; `webhook_delivery_header` names the header
    whose delivery id makes a redelivery answer with the first execution (shared.functions.webhooks).

    `schedule` runs it on the clock (shared.functions.schedule): five-field cron or six-field NCRONTAB, read in
    `schedule_timezone` (an IANA zone; UTC by default), with `schedule_inputs` as its input (checked against its
    parameters now). `catch_up` ("latest", "all" up to `max_catch_up`, "none") says what slots missed by more than
    `grace_seconds` do; `overlap` ("skip", "allow", "cancel_previous") what a slot does while the previous
    scheduled run is still going.
    """
    target, name = (name, None) if _is_target(name) else (None, name)

    def decorate(function: F) -> F:
        with _located(function):
            where = _start("@workflow", function, name, extra, unknown, WORKFLOW_ARGUMENTS)
            _check_texts(where, description=description, category=category)
            _check_flags(where, endpoint_enabled=endpoint_enabled, disable_global_key=disable_global_key,
                         public_endpoint=public_endpoint)
            mode = execution_mode or ("sync" if endpoint_enabled else "async")
            _check_choice(where, "execution_mode", mode, ("sync", "async"))
            timeout = _timeout(where, timeout_seconds)
            level = _checked_level(where, log_level)
            policy = _checked(where, check_retry_policy, retry_policy)
            schedule_options = _checked(where, lambda _: check_schedule_options(
                schedule, schedule_timezone, schedule_inputs, catch_up, max_catch_up, grace_seconds, overlap), None)
            methods = tuple(m.upper() for m in _text_list(where, "allowed_methods", allowed_methods, ("POST",)))
            for method in methods:
                _check_choice(where, "allowed_methods", method, sorted(HTTP_METHODS))
            hook = _checked(where, lambda _: check_webhook(endpoint_enabled, webhook_secret, webhook_signature,
                                                           webhook_delivery_header), None)
            metadata = FunctionMetadata(
                **_base_metadata(where, function, name, description, category, _kinds(where, "workflow", tags)),
                execution_mode=mode,  # type: ignore[arg-type]
                timeout_seconds=timeout,
                endpoint_enabled=endpoint_enabled,
                allowed_methods=methods,
                disable_global_key=disable_global_key,
                public_endpoint=public_endpoint,
                retry_policy=policy,
                schedule=schedule_options.cron.expression if schedule_options is not None else None,
                schedule_options=schedule_options,
                log_level=level,
                webhook_secret=hook.secret,
                webhook_signature=hook.signature,
                webhook_delivery_header=hook.delivery_header,
            )
            _check_schedule_inputs(where, metadata)
        return _register(function, metadata)

    return decorate if target is None else decorate(target)


@overload
def data_provider(name: F, /) -> F: ...


@overload
def data_provider(
    name: str | None = None,
    description: str | None = None,
    *,
    category: str = "General",
    tags: Iterable[str] | None = (),
    cache_ttl_seconds: int = 300,
    timeout_seconds: int | None = None,
    log_level: str = "INFO",
    cache_scope: str = "organization",
    stale_while_revalidate_seconds: int = 0,
) -> Callable[[F], F]: ...


def data_provider(
    name: Any = None,
    description: Any = None,
    *extra: Any,
    category: Any = "General",
    tags: Any = (),
    cache_ttl_seconds: Any = 300,
    timeout_seconds: Any = None,
    log_level: Any = "INFO",
    cache_scope: Any = "organization",
    stale_while_revalidate_seconds: Any = 0,
    **unknown: Any,
) -> Any:
    """Register a function as a data provider (`@data_provider` or `@data_provider(...)`): it returns options
    (`[{"label", "value", "description"?, "metadata"?}]`) for form fields.

    Its options are cached for `cache_ttl_seconds` (0: never) per organization, provider and inputs, and per user
    too with `cache_scope="user"` (options that depend on who asks). Within `stale_while_revalidate_seconds` after
    expiry the old options are served at once while one refresh runs. `timeout_seconds` defaults to 30: someone is
    waiting for the dropdown. `category`, `tags` and `log_level` as for `@workflow`.
    """
    target, name = (name, None) if _is_target(name) else (None, name)

    def decorate(function: F) -> F:
        with _located(function):
            where = _start("@data_provider", function, name, extra, unknown, DATA_PROVIDER_ARGUMENTS)
            _check_texts(where, description=description, category=category)
            _check_seconds(where, cache_ttl_seconds=cache_ttl_seconds,
                           stale_while_revalidate_seconds=stale_while_revalidate_seconds)
            _check_choice(where, "cache_scope", cache_scope, CACHE_SCOPES)
            timeout = _timeout(where, DEFAULT_PROVIDER_TIMEOUT if timeout_seconds is None else timeout_seconds)
            level = _checked_level(where, log_level)
            metadata = FunctionMetadata(
                **_base_metadata(where, function, name, description, category, _kinds(where, "data_provider", tags)),
                execution_mode="sync", timeout_seconds=timeout, provider_timeout_seconds=timeout,
                cache_ttl_seconds=cache_ttl_seconds, cache_scope=cache_scope,
                stale_while_revalidate_seconds=stale_while_revalidate_seconds, log_level=level,
            )
        return _register(function, metadata)

    return decorate if target is None else decorate(target)


def _is_target(name: Any) -> bool:
    """A decorator used bare receives the decorated object where `name` would be."""
    return name is not None and not isinstance(name, str) and callable(name)


@contextlib.contextmanager
def _located(thing: Any) -> Iterator[None]:
    """A `RegistrationError` raised inside the block also says where `thing` is defined (file:line)."""
    try:
        yield
    except RegistrationError as exc:
        raise RegistrationError(f"{exc.message} (at {location_of(thing)})") from None


def _start(
    decorator: str, function: Any, name: Any, extra: tuple[Any, ...], unknown: dict[str, Any],
    accepted: tuple[str, ...],
) -> str:
    """Check what every registering decorator is given; return how its errors name the function."""
    _check_target(decorator, function)
    get_registry().claim(function)  # its @param lines are accounted for, whether or not registration succeeds
    where = _where(decorator, function, name)
    _check_call(where, decorator, extra, unknown, accepted, positional=2)
    if name is not None and not isinstance(name, str):
        raise RegistrationError(f"{where}: name must be text, got {reprlib.repr(name)}.")
    if not name and function.__name__ == "<lambda>":
        raise RegistrationError(f"{where}: a lambda has no name of its own; give it one with name=...")
    return where


def _check_call(
    where: str, decorator: str, extra: tuple[Any, ...], unknown: dict[str, Any], accepted: tuple[str, ...],
    positional: int,
) -> None:
    if extra:
        order = ", ".join(accepted[:positional])
        rest = f"; pass the others by keyword (e.g. {accepted[positional]}=...)" if positional < len(accepted) else ""
        raise RegistrationError(
            f"{where}: {decorator} takes at most {positional} positional arguments ({order}), got "
            f"{positional + len(extra)}{rest}."
        )
    if unknown:
        raise RegistrationError(f"{where}: {unknown_arguments_problem(decorator, unknown, accepted)}.")


def _check_target(decorator: str, thing: Any) -> None:
    """Only plain functions (def, async def, lambda) defined at module level or inside another function."""
    if not inspect.isfunction(thing):
        raise RegistrationError(f"{decorator} applies to a function (def or async def), not to {_describe(thing)}.")
    if inspect.isgeneratorfunction(thing) or inspect.isasyncgenfunction(thing):
        raise RegistrationError(
            f"{decorator} on {thing.__name__}: a generator function (one that uses yield) cannot run as a Conduit "
            f"function; return the results instead, e.g. as a list."
        )
    owner = thing.__qualname__.split(".")[:-1]
    if owner and owner[-1] != "<locals>":
        raise RegistrationError(
            f"{decorator} on {thing.__qualname__}: a method of the class {'.'.join(owner)} cannot be a Conduit "
            f"function (nothing would pass `self`); define it as a module-level function."
        )


def _describe(thing: Any) -> str:
    if inspect.isfunction(thing):
        return thing.__name__
    if inspect.isclass(thing):
        return f"the class {thing.__qualname__}"
    if isinstance(thing, staticmethod | classmethod):
        return f"a {type(thing).__name__} (define a module-level function instead of a method)"
    name = getattr(thing, "__name__", None)
    if callable(thing) and isinstance(name, str):  # a function wrapped by a decorator that returns an object
        return (f"{name} as wrapped by {type(thing).__qualname__} (apply it directly to the def, below any decorator "
                f"that wraps the function)")
    return f"{type(thing).__name__} {reprlib.repr(thing)}"


def _where(decorator: str, function: Callable[..., Any], name: str | None) -> str:
    """How errors name the function: by its Python name, and by its registered name when that differs."""
    registered = f" ('{name}')" if name and name != function.__name__ else ""
    return f"{decorator} on {function.__name__}{registered}"


def _check_texts(where: str, **values: Any) -> None:
    for field_name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise RegistrationError(f"{where}: {field_name} must be text, got {reprlib.repr(value)}.")


def _check_flags(where: str, **values: Any) -> None:
    for field_name, value in values.items():
        if not isinstance(value, bool):
            raise RegistrationError(f"{where}: {field_name} must be True or False, got {reprlib.repr(value)}.")


def _check_seconds(where: str, **values: Any) -> None:
    for field_name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RegistrationError(f"{where}: {field_name} must be a whole number of seconds >= 0, got {value!r}.")


def _text_list(where: str, field_name: str, value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    """A list of text (None: the default). A plain string is refused, not split into its letters."""
    if value is None:
        return default
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset) or not all(
        isinstance(item, str) for item in value
    ):
        raise RegistrationError(f"{where}: {field_name} must be a list of text, such as ['a'], got {value!r}.")
    return tuple(value)


def _kinds(where: str, kind: str, tags: Any) -> set[str]:
    """The function's tags: its kind and the user's tags. A user tag naming the other kind would make the function
    usable as that kind (a data provider runnable as a workflow), so it is refused."""
    user_tags = set(_text_list(where, "tags", tags, ()))
    reserved = user_tags & (set(KINDS) - {kind})
    if reserved:
        raise RegistrationError(
            f"{where}: the tag '{reserved.pop()}' is reserved (it marks how a function may be used); stack "
            f"@workflow and @data_provider to make one function both, or pick another tag."
        )
    return {kind, *user_tags}


def _base_metadata(
    where: str, function: Callable[..., Any], name: str | None, description: str | None, category: str,
    tags: set[str],
) -> dict[str, Any]:
    declared: list[ParameterMetadata] = getattr(function, _PARAMS_ATTR, [])
    names = {p.name for p in declared}
    parameters = resolve_types(where, function, tuple(declared) + inferred_parameters(function, names), names)
    for spec in parameters:
        if spec.validation is not None:
            check_validation(where, spec.name, spec.type or "string", spec.validation)
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


def _check_schedule_inputs(where: str, metadata: FunctionMetadata) -> None:
    """A scheduled run has no input but `schedule_inputs` and the defaults: they must make a valid call now, by the
    model every execution is validated with (stored as given; the engine validates again when it runs)."""
    options = metadata.schedule_options
    if options is None or metadata.input_model is None:
        return
    try:
        metadata.input_model.validate(dict(options.inputs))
    except InputValidationError as exc:
        problems = "; ".join(f"'{error.field}': {error.message}" for error in exc.errors)
        raise RegistrationError(
            f"{where}: schedule_inputs do not make a valid input for a scheduled run (it has no other input; give "
            f"each required parameter in schedule_inputs or a default): {problems}."
        ) from None


def _checked_level(where: str, log_level: str) -> str:
    level = log_level.upper() if isinstance(log_level, str) else log_level
    _check_choice(where, "log_level", level, LOG_LEVELS)
    return level


def _check_choice(where: str, field_name: str, value: str, choices: Iterable[str]) -> None:
    allowed = list(choices)
    if value not in allowed:
        raise RegistrationError(f"{where}: {field_name} must be one of {', '.join(allowed)}, got {value!r}.")
