"""HTTP route templates with the host's (ASP.NET Core) rules.

A template is `/`-separated segments: literals (matched case-insensitively), `{name}`, optional `{name?}`, with a
default `{name=value}`, constrained `{id:int}` / `{c:alpha}` / `{g:guid}` (and `long bool float double decimal
datetime`), and a trailing catch-all `{*rest}`. Among the routes that match the path and accept the method, the most
specific one wins, segment by segment: literal, then constrained parameter, then parameter, then catch-all
(`workflows/executions` beats `workflows/{name}`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")
LITERAL, CONSTRAINED, PARAMETER, CATCH_ALL = 1, 2, 3, 4
_PARAM = re.compile(r"^\{(\*{1,2})?([A-Za-z_][\w]*)((?::[^:?=}]+(?:\([^)]*\))?)*)(\?)?(?:=([^}]*))?\}$")


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


CONSTRAINTS: dict[str, Callable[[str], bool]] = {
    "int": lambda v: re.fullmatch(r"-?\d+", v) is not None and -(2**31) <= int(v) < 2**31,
    "long": lambda v: re.fullmatch(r"-?\d+", v) is not None and -(2**63) <= int(v) < 2**63,
    "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
    "guid": _is_guid,
    "bool": lambda v: v.lower() in ("true", "false"),
    "float": _is_float,
    "double": _is_float,
    "decimal": _is_float,
    "datetime": _is_datetime,
}


class RouteTemplateError(ValueError):
    """A route template devhost cannot parse (the function is then not routed)."""


@dataclass(frozen=True)
class Segment:
    kind: int
    text: str  # the literal (lower-cased) or the parameter name
    optional: bool = False
    default: str | None = None
    constraints: tuple[str, ...] = ()

    def accepts(self, value: str) -> bool:
        return all(CONSTRAINTS.get(name, lambda _v: True)(value) for name in self.constraints)


def parse_segment(raw: str) -> Segment:
    if not (raw.startswith("{") and raw.endswith("}")):
        if "{" in raw or "}" in raw:
            raise RouteTemplateError(f"segment '{raw}' mixes text and parameters, which devhost does not support")
        return Segment(LITERAL, raw.lower())
    match = _PARAM.match(raw)
    if not match:
        raise RouteTemplateError(f"cannot parse route parameter '{raw}'")
    star, name, constraint_text, optional, default = match.groups()
    constraints = tuple(c.split("(")[0].lower() for c in constraint_text.split(":") if c)
    if star:
        return Segment(CATCH_ALL, name, optional=True, constraints=constraints)
    kind = CONSTRAINED if constraints else PARAMETER
    return Segment(kind, name, optional=bool(optional) or default is not None, default=default, constraints=constraints)


def split_path(path: str) -> list[str]:
    """Raw (still percent-encoded) path segments without empty ones, so a trailing slash does not matter."""
    return [part for part in path.split("/") if part]


@dataclass(frozen=True)
class Route(Generic[T]):
    """A parsed template, the methods it accepts (empty = all) and the target it routes to."""

    template: str
    segments: tuple[Segment, ...]
    methods: frozenset[str]
    target: T
    precedence: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "precedence", tuple(s.kind for s in self.segments))

    def allows(self, method: str) -> bool:
        return not self.methods or method in self.methods

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Route values for these raw path segments, or None when the template does not match."""
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.kind == CATCH_ALL:
                rest = "/".join(unquote(p) for p in parts[index:])
                if rest:
                    values[segment.text] = rest
                return values if rest or segment.optional else None
            if index >= len(parts):
                return values if self._rest_optional(index, values) else None
            value = unquote(parts[index])
            if segment.kind == LITERAL:
                if value.lower() != segment.text:
                    return None
            elif segment.accepts(value):
                values[segment.text] = value
            else:
                return None
        return values if len(parts) == len(self.segments) else None

    def _rest_optional(self, start: int, values: dict[str, str]) -> bool:
        for segment in self.segments[start:]:
            if not segment.optional:
                return False
            if segment.default is not None:
                values[segment.text] = segment.default
        return True


def make_route(template: str, methods: Iterable[str], target: T) -> Route[T]:
    segments = tuple(parse_segment(raw) for raw in split_path(template))
    if any(s.kind == CATCH_ALL for s in segments[:-1]):
        raise RouteTemplateError(f"catch-all parameter must be the last segment of '{template}'")
    return Route(template, segments, frozenset(m.upper() for m in methods), target)


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    """The outcome of a lookup: a route with its values, or the methods the path allows (for 405), or nothing."""

    route: Route[T] | None = None
    values: dict[str, str] = field(default_factory=dict)
    allowed: tuple[str, ...] = ()


class Router(Generic[T]):
    """Routes kept most specific first, so the first route that matches and allows the method wins."""

    ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

    def __init__(self, routes: Iterable[Route[T]] = ()) -> None:
        self._routes: list[Route[T]] = sorted(routes, key=lambda r: r.precedence)

    def add(self, route: Route[T]) -> None:
        self._routes.append(route)
        self._routes.sort(key=lambda r: r.precedence)

    def lookup(self, method: str, path: str) -> RouteMatch[T]:
        parts = split_path(path)
        allowed: set[str] = set()
        for route in self._routes:
            values = route.match(parts)
            if values is None:
                continue
            if route.allows(method):
                return RouteMatch(route, values)
            allowed.update(route.methods or self.ALL_METHODS)
        return RouteMatch(allowed=tuple(sorted(allowed)))
