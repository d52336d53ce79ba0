"""HTTP route templates with the host's (ASP.NET Core) rules.

A template is `/`-separated segments: literals (matched case-insensitively; `{{` and `}}` stand for braces),
`{name}`, optional `{name?}`, with a default `{name=value}`, constrained `{id:int}` / `{n:min(1)}` /
`{s:regex(^a.*$)}` (see `devhost.constraints`), and a trailing catch-all `{*rest}`. Anything devhost does not
implement (an unknown constraint, a segment mixing text and parameters such as `{name}.{ext}`) is a
`RouteTemplateError` when the route is built: refused at start-up, never matched loosely.

Precedence is ASP.NET's: segment by segment, a literal beats a constrained parameter, which beats a plain parameter,
which beats a constrained catch-all, which beats a catch-all (`workflows/executions` beats `workflows/{name}`, and
`{*path}` comes last). The request's method is one more constraint, as in the host: a route whose methods do not
include it does not match, and the next route in precedence order gets its chance. Nothing matching is a 404.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

from devhost.constraints import Check, ConstraintError, build

T = TypeVar("T")
# ASP.NET's inbound precedence digits (RoutePrecedence.ComputeInboundPrecedenceDigit); lower wins.
LITERAL, CONSTRAINED, PARAMETER, CONSTRAINED_CATCH_ALL, CATCH_ALL = 1, 2, 3, 4, 5
_NAME_END = re.compile(r"[:=]")
_BAD_NAME_CHARS = set("/{}?*:=")


class RouteTemplateError(ValueError):
    """A route template devhost cannot host: malformed, or using what devhost does not implement."""


@dataclass(frozen=True)
class Segment:
    kind: int
    text: str  # the literal (lower-cased) or the parameter name
    optional: bool = False
    default: str | None = None
    constraints: tuple[str, ...] = ()  # as written, for messages
    checks: tuple[Check, ...] = field(default=(), compare=False)

    @property
    def catch_all(self) -> bool:
        return self.kind in (CONSTRAINED_CATCH_ALL, CATCH_ALL)

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.checks)


def tokenize(template: str) -> list[list[tuple[bool, str]]]:
    """Segments as lists of parts `(is_parameter, text)`, split on '/' outside parameters, with `{{`/`}}` unescaped."""
    segments: list[list[tuple[bool, str]]] = []
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    index = 0
    while index < len(template):
        char, pair = template[index], template[index : index + 2]
        if char == "/":
            _flush(literal, parts)
            if parts:
                segments.append(parts)
            parts, index = [], index + 1
        elif pair in ("{{", "}}"):
            literal.append(char)
            index += 2
        elif char == "{":
            _flush(literal, parts)
            end, text = _parameter(template, index + 1)
            parts.append((True, text))
            index = end + 1
        elif char == "}":
            raise RouteTemplateError(f"unmatched '}}' in '{template}' (write '}}}}' for a literal brace)")
        else:
            literal.append(char)
            index += 1
    _flush(literal, parts)
    if parts:
        segments.append(parts)
    return segments


def _flush(literal: list[str], parts: list[tuple[bool, str]]) -> None:
    if literal:
        parts.append((False, "".join(literal)))
        literal.clear()


def _parameter(template: str, start: int) -> tuple[int, str]:
    """The index of the '}' that closes the parameter opened before `start`, and its unescaped text."""
    text: list[str] = []
    index = start
    while index < len(template):
        char, pair = template[index], template[index : index + 2]
        if pair in ("{{", "}}"):
            text.append(char)
            index += 2
        elif char == "}":
            return index, "".join(text)
        elif char == "{":
            raise RouteTemplateError(f"'{{' inside a parameter of '{template}' must be written '{{{{'")
        else:
            text.append(char)
            index += 1
    raise RouteTemplateError(f"unterminated parameter in '{template}'")


def parse_parameter(text: str) -> Segment:
    """`[*]name[:constraint[(argument)]]...[=default][?]` into a Segment, with each constraint built."""
    stars = len(text) - len(text.lstrip("*"))
    body = text[stars:]
    optional = body.endswith("?")
    body = body.removesuffix("?")
    match = _NAME_END.search(body)
    name, rest = (body[: match.start()], body[match.start() :]) if match else (body, "")
    if not name or _BAD_NAME_CHARS & set(name) or stars > 2:
        raise RouteTemplateError(f"'{{{text}}}' is not a valid route parameter")
    constraints, rest = _constraints(rest)
    default = rest[1:] if rest.startswith("=") else None
    if optional and default is not None:
        raise RouteTemplateError(f"'{{{text}}}': an optional parameter cannot have a default value")
    if stars and optional:
        raise RouteTemplateError(f"'{{{text}}}': a catch-all parameter cannot be marked optional")
    try:
        checks = tuple(build(constraint_name, argument) for constraint_name, argument in constraints)
    except ConstraintError as exc:
        raise RouteTemplateError(f"parameter '{{{text}}}': {exc}") from exc
    written = tuple(f"{c}({a})" if a is not None else c for c, a in constraints)
    if stars:
        kind = CONSTRAINED_CATCH_ALL if checks else CATCH_ALL
        return Segment(kind, name, optional=True, default=default, constraints=written, checks=checks)
    kind = CONSTRAINED if checks else PARAMETER
    return Segment(kind, name, optional or default is not None, default, written, checks)


def _constraints(rest: str) -> tuple[list[tuple[str, str | None]], str]:
    """Leading `:name` / `:name(argument)` items; an argument ends at a ')' followed by ':', '=' or the end."""
    found: list[tuple[str, str | None]] = []
    while rest.startswith(":"):
        head = re.match(r":([^:(=]*)", rest)
        assert head is not None
        name, rest = head.group(1), rest[head.end() :]
        argument = None
        if rest.startswith("("):
            close = next((i for i, c in enumerate(rest) if c == ")" and rest[i + 1 : i + 2] in ("", ":", "=")), None)
            if close is None:
                raise RouteTemplateError(f"the route constraint '{name}{rest}' has no closing ')'")
            argument, rest = rest[1:close], rest[close + 1 :]
        if not name:
            raise RouteTemplateError("an empty route constraint name (':' with nothing after it)")
        found.append((name, argument))
    return found, rest


def parse_segment(parts: list[tuple[bool, str]]) -> Segment:
    if len(parts) > 1:
        shown = "".join("{" + text + "}" if is_parameter else text for is_parameter, text in parts)
        raise RouteTemplateError(
            f"segment '{shown}' mixes text and parameters (an ASP.NET complex segment); devhost does not implement that"
        )
    is_parameter, text = parts[0]
    return parse_parameter(text) if is_parameter else Segment(LITERAL, text.lower())


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

    @property
    def sort_key(self) -> tuple[tuple[int, ...], str]:
        """Precedence, then the template text (case-insensitively), as ASP.NET orders equally specific routes."""
        return self.precedence, self.template.lower()

    def allows(self, method: str) -> bool:
        return not self.methods or method in self.methods

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Route values for these raw path segments, or None when the template does not match."""
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.catch_all:
                return self._match_rest(segment, parts[index:], values)
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

    @staticmethod
    def _match_rest(segment: Segment, parts: list[str], values: dict[str, str]) -> dict[str, str] | None:
        rest = "/".join(unquote(p) for p in parts) or segment.default or ""
        if not rest:
            return values
        if not segment.accepts(rest):
            return None
        values[segment.text] = rest
        return values

    def _rest_optional(self, start: int, values: dict[str, str]) -> bool:
        """The path ended: the remaining segments must all be optional; defaults fill in (and meet the constraints)."""
        for segment in self.segments[start:]:
            if not segment.optional:
                return False
            if segment.default is not None:
                if not segment.accepts(segment.default):
                    return False
                values[segment.text] = segment.default
        return True


def make_route(template: str, methods: Iterable[str], target: T) -> Route[T]:
    """Parse a template; RouteTemplateError says what devhost cannot host in it."""
    segments = tuple(parse_segment(parts) for parts in tokenize(template))
    if any(s.catch_all for s in segments[:-1]):
        raise RouteTemplateError(f"a catch-all parameter must be the last segment of '{template}'")
    names = [s.text.lower() for s in segments if s.kind != LITERAL]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RouteTemplateError(f"the route parameter '{duplicates[0]}' appears more than once in '{template}'")
    return Route(template, segments, frozenset(m.upper() for m in methods), target)


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    """The route a request goes to, with its route values."""

    route: Route[T]
    values: dict[str, str]


class Router(Generic[T]):
    """Routes kept most specific first, so the first route that matches the path and allows the method wins."""

    def __init__(self, routes: Iterable[Route[T]] = ()) -> None:
        self._routes: list[Route[T]] = sorted(routes, key=lambda r: r.sort_key)

    def add(self, route: Route[T]) -> None:
        self._routes.append(route)
        self._routes.sort(key=lambda r: r.sort_key)

    def lookup(self, method: str, path: str) -> RouteMatch[T] | None:
        """The route for this request, or None: the host's bare 404, whether the path or only the method differs."""
        parts = split_path(path)
        for route in self._routes:
            if not route.allows(method):
                continue
            values = route.match(parts)
            if values is not None:
                return RouteMatch(route, values)
        return None
