"""The function registry: every workflow and data provider as one plain, frozen `FunctionMetadata` record."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from shared.errors import RegistrationError
from shared.functions.param_types import plain_json

if TYPE_CHECKING:
    from shared.functions.model import InputModel

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
    cache_ttl_seconds: int = 300
    source: Source | None = None
    retry_policy: dict[str, Any] | None = field(default=None, compare=False)
    schedule: str | None = None
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
            "schedule": self.schedule,
            "log_level": self.log_level,
            "source": self.source,
            "parameters": [p.to_api() for p in self.parameters],
            "input_schema": self.input_model.json_schema if self.input_model is not None else None,
        }


def _source_file(function: Callable[..., Any]) -> str:
    try:
        return inspect.getsourcefile(function) or "<unknown>"
    except TypeError:
        return "<unknown>"


# Fields each decorator owns; when one function carries both decorators the merged record takes each field from
# the decorator that owns it, so the order in which they are stacked does not matter.
_DATA_PROVIDER_FIELDS = ("cache_ttl_seconds",)


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

    def register(self, metadata: FunctionMetadata) -> FunctionMetadata:
        existing = self._functions.get(metadata.name)
        if existing is None:
            self._functions[metadata.name] = metadata
        elif _same_function(existing.function, metadata.function):
            self._functions[metadata.name] = merge(existing, metadata) if existing.tags != metadata.tags else metadata
        else:
            raise RegistrationError(
                f"The name '{metadata.name}' is already registered by {existing.function.__qualname__} in "
                f"{existing.source_file}; {metadata.function.__qualname__} in {metadata.source_file} cannot use it "
                f"too. Rename one of them."
            )
        return self._functions[metadata.name]

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
    """The same function object, or the same definition re-imported (same module and qualified name)."""
    if a is b:
        return True
    return (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == (
        getattr(b, "__module__", None),
        getattr(b, "__qualname__", None),
    ) and _source_file(a) == _source_file(b)


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
