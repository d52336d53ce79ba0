"""The function registry: every workflow and data provider as one plain, frozen `FunctionMetadata` record."""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from shared.errors import RegistrationError
from shared.functions.param_types import plain_json

if TYPE_CHECKING:
    from shared.functions.model import InputModel
    from shared.functions.schedule import ScheduleOptions

ExecutionMode = Literal["sync", "async"]
Source = Literal["platform", "workspace"]


@dataclass(frozen=True)
class ParameterMetadata:
    """One input of a function: declared with `@param`, or inferred from the signature.

    `type` is one of `param_types.PARAM_TYPES` when declared so; otherwise it names what the annotation
    (`annotation`, the resolved hint) became, which may also be `choice`, `date`, `datetime` or `object`. It is None
    until registration resolves it.
    """

    name: str
    type: str | None = "string"
    label: str | None = None
    required: bool = False
    default_value: Any = None
    data_provider: str | None = None
    help_text: str | None = None
    validation: dict[str, Any] | None = field(default=None, compare=False)  # see shared.functions.constraints
    annotation: Any = field(default=None, compare=False, repr=False)

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "required": self.required,
            "default_value": plain_json(self.default_value),  # always JSON: an Enum as its value, an object as null
            "data_provider": self.data_provider,
            "help_text": self.help_text,
        }


@dataclass(frozen=True)
class FunctionMetadata:
    """A registered function; `tags` says how it may be used (`workflow`, `data_provider`, or both)."""

    name: str
    function: Callable[..., Any]
    description: str = ""
    category: str = "General"
    tags: frozenset[str] = frozenset()
    execution_mode: ExecutionMode = "async"
    timeout_seconds: int = 1800
    parameters: tuple[ParameterMetadata, ...] = ()
    endpoint_enabled: bool = False
    allowed_methods: tuple[str, ...] = ("POST",)
    disable_global_key: bool = False
    public_endpoint: bool = False
    # A signed endpoint (shared.functions.webhooks): the config key of its secret, its scheme, its delivery header.
    # Workflow fields: when the function is a data provider too, `merge` keeps them from the @workflow registration.
    webhook_secret: str | None = None
    webhook_signature: str | None = None
    webhook_delivery_header: str | None = None
    cache_ttl_seconds: int = 300
    cache_scope: str = "organization"  # or "user": cached options never cross users
    stale_while_revalidate_seconds: int = 0
    provider_timeout_seconds: int = 30  # its timeout when it runs as a data provider (its own decorator's)
    source: Source | None = None
    retry_policy: dict[str, Any] | None = field(default=None, compare=False)
    schedule: str | None = None  # the normalised cron expression; all it says is in schedule_options
    schedule_options: ScheduleOptions | None = field(default=None, compare=False)
    log_level: str = "INFO"  # the lowest level its executions store; DEBUG is an opt-in (see shared.capture.log_levels)
    input_model: InputModel | None = field(default=None, compare=False, repr=False)  # built once, at registration

    @property
    def is_workflow(self) -> bool:
        return "workflow" in self.tags

    @property
    def is_data_provider(self) -> bool:
        return "data_provider" in self.tags

    @property
    def source_file(self) -> str:
        return _source_file(self.function)

    @property
    def location(self) -> str:
        """Where the function is defined, as `file:line` (the line of its first decorator)."""
        return location_of(self.function)

    def to_api(self) -> dict[str, Any]:
        """The shape `GET /api/workflows` lists."""
        return {
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "tags": sorted(self.tags),
            "execution_mode": self.execution_mode,
            "timeout_seconds": self.timeout_seconds,
            "endpoint_enabled": self.endpoint_enabled,
            "endpoint": self.endpoint_to_api(),
            "schedule": self.schedule,
            "schedule_timezone": self.schedule_options.cron.timezone if self.schedule_options is not None else None,
            "log_level": self.log_level,
            "source": self.source,
            "parameters": [p.to_api() for p in self.parameters],
            "input_schema": self.input_model.json_schema if self.input_model is not None else None,
        }


    def endpoint_to_api(self) -> dict[str, Any] | None:
        """How other services call it at /api/endpoints/{name}, or None when it is no endpoint."""
        if not self.endpoint_enabled:
            return None
        access = "signature" if self.webhook_signature else "public" if self.public_endpoint else "api_key"
        return {
            "path": f"/api/endpoints/{self.name}",
            "methods": list(self.allowed_methods),
            "access": access,
            "signature": self.webhook_signature,
            "global_keys": not self.disable_global_key,
        }

    def to_provider_api(self) -> dict[str, Any]:
        """The shape `GET /api/data-providers` lists."""
        return {
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "tags": sorted(self.tags),
            "cache_ttl_seconds": self.cache_ttl_seconds,
            "cache_scope": self.cache_scope,
            "stale_while_revalidate_seconds": self.stale_while_revalidate_seconds,
            "timeout_seconds": self.provider_timeout_seconds,
            "source": self.source,
            "parameters": [p.to_api() for p in self.parameters],
            "input_schema": self.input_model.json_schema if self.input_model is not None else None,
        }


def _source_file(function: Callable[..., Any]) -> str:
    try:
        return inspect.getsourcefile(function) or "<unknown>"
    except TypeError:
        return "<unknown>"


def location_of(thing: Any) -> str:
    """`file:line` of a function (the line of its first decorator) or the file of a class, for load errors; the
    file relative to the current folder when it is inside it, as editors and terminals make that clickable. A DAG's
    function is its `*.dag.json` file (shared.dag.registration), or none for one stored through the API."""
    if hasattr(thing, "dag_location"):
        return shown_path(thing.dag_location) if thing.dag_location else "<stored DAG>"
    code = getattr(thing, "__code__", None)
    if code is not None:
        return f"{shown_path(code.co_filename)}:{code.co_firstlineno}"
    module = sys.modules.get(getattr(thing, "__module__", None) or "")
    file = getattr(module, "__file__", None)
    if not file:
        return "<unknown file>"
    try:  # a class: its line is found by reading the file (only ever for an error)
        return f"{shown_path(file)}:{inspect.getsourcelines(thing)[1]}"
    except (OSError, TypeError):
        return shown_path(file)


def shown_path(file: str) -> str:
    try:
        relative = os.path.relpath(file)
    except ValueError:  # another drive (Windows)
        return file
    return file if relative.startswith("..") else relative


# Fields each decorator owns; when one function carries both decorators the merged record takes each field from
# the decorator that owns it, so the order in which they are stacked does not matter.
_DATA_PROVIDER_FIELDS = (
    "cache_ttl_seconds", "cache_scope", "stale_while_revalidate_seconds", "provider_timeout_seconds",
)


def merge(existing: FunctionMetadata, new: FunctionMetadata) -> FunctionMetadata:
    """Combine two registrations of the same function: union of tags, each field from its owning decorator."""
    workflow, other = (new, existing) if new.is_workflow else (existing, new)
    merged = replace(workflow, tags=existing.tags | new.tags)
    if other.is_data_provider:
        merged = replace(merged, **{name: getattr(other, name) for name in _DATA_PROVIDER_FIELDS})
    # DEBUG asked for by either decorator holds for the function: the more verbose level wins.
    log_level = min(workflow.log_level, other.log_level, key=logging.getLevelNamesMapping().__getitem__)
    return replace(merged, description=workflow.description or other.description, log_level=log_level)


class FunctionRegistry:
    """Name -> FunctionMetadata. Rejects a second, different function under a name already taken."""

    def __init__(self) -> None:
        self._functions: dict[str, FunctionMetadata] = {}
        self._unclaimed: dict[int, Callable[..., Any]] = {}  # id -> a function with @param not (yet) registered

    def register(self, metadata: FunctionMetadata) -> FunctionMetadata:
        self.claim(metadata.function)
        existing = self._functions.get(metadata.name)
        if existing is None:
            self._functions[metadata.name] = metadata
        elif _same_function(existing.function, metadata.function):
            self._functions[metadata.name] = merge(existing, metadata) if existing.tags != metadata.tags else metadata
        else:
            raise RegistrationError(
                f"Two functions are named '{metadata.name}': {existing.function.__qualname__} "
                f"({existing.location}) and {metadata.function.__qualname__} ({metadata.location}). Names are "
                f"unique: rename one of the functions, or give one of them another name=... in its decorator."
            )
        return self._functions[metadata.name]

    def note_params(self, function: Callable[..., Any]) -> None:
        """`@param` was applied to `function`; it should be registered by `@workflow` / `@data_provider` next."""
        self._unclaimed[id(function)] = function

    def claim(self, function: Callable[..., Any]) -> None:
        """`@workflow` / `@data_provider` was applied to `function` (its @param lines are not forgotten)."""
        self._unclaimed.pop(id(function), None)

    def unclaimed_params(self) -> list[tuple[str, str]]:
        """(file, message) for every function that has `@param` but neither `@workflow` nor `@data_provider`: it
        is registered as nothing, which would otherwise pass silently."""
        return [
            (_source_file(function), f"{function.__qualname__} ({location_of(function)}) has @param but neither "
                                     f"@workflow nor @data_provider, so it is not registered; add @workflow above "
                                     f"its @param lines, or remove them")
            for function in self._unclaimed.values()
        ]

    def get(self, name: str) -> FunctionMetadata | None:
        return self._functions.get(name)

    def list(self, tag: str | None = None) -> list[FunctionMetadata]:
        items = sorted(self._functions.values(), key=lambda m: m.name)
        return [m for m in items if tag is None or tag in m.tags]

    def count(self, tag: str) -> int:
        return sum(1 for m in self._functions.values() if tag in m.tags)

    def __len__(self) -> int:
        return len(self._functions)


def _same_function(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """The same function object, or the same definition re-imported (same module, qualified name, file and line).

    Two definitions under one name in one file (a copy-pasted function) differ by line, so they are two functions,
    not one replacing the other."""
    if a is b:
        return True
    return _identity(a) == _identity(b) and _source_file(a) == _source_file(b)


def _identity(function: Callable[..., Any]) -> tuple[Any, ...]:
    code = getattr(function, "__code__", None)
    return (getattr(function, "__module__", None), getattr(function, "__qualname__", None),
            getattr(code, "co_firstlineno", None))


_default_registry = FunctionRegistry()
_active_registry: ContextVar[FunctionRegistry] = ContextVar("conduit_registry", default=_default_registry)
_loading_source: ContextVar[Source | None] = ContextVar("conduit_loading_source", default=None)


def get_registry() -> FunctionRegistry:
    """The registry decorators register into: the process default, unless `use_registry` swapped it."""
    return _active_registry.get()


@contextlib.contextmanager
def use_registry(registry: FunctionRegistry) -> Iterator[FunctionRegistry]:
    """Make decorators register into `registry` for the duration of the block (tests, discovery)."""
    token = _active_registry.set(registry)
    try:
        yield registry
    finally:
        _active_registry.reset(token)


@contextlib.contextmanager
def loading_source(source: Source) -> Iterator[None]:
    """Tag everything registered inside the block with where it was loaded from."""
    token = _loading_source.set(source)
    try:
        yield
    finally:
        _loading_source.reset(token)


def current_source() -> Source | None:
    return _loading_source.get()
