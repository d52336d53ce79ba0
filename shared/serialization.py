"""JSON rules: what comes in is bounded and finite, what executions return must be JSON, variables are made safe.

Python's `json` accepts `NaN`, `Infinity` and `1e400` (which becomes infinity) and writes them back as `NaN` and
`Infinity`, which is not JSON: browsers' `JSON.parse` rejects such a document. So nothing non-finite is accepted as
input or stored. Nesting is bounded too: parsing recurses, and a body nested 100,000 levels deep must be a clear
400, not a `RecursionError`.
"""

from __future__ import annotations

import json
import math
import types
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ResultNotSerializableError

MAX_JSON_DEPTH = 64  # objects/arrays inside one another; the outermost value is level 1
MAX_REPORTED_FIELDS = 20
_CYCLE_GUARD_DEPTH = 1000  # inspecting a result that may refer to itself stops here
NOT_FINITE = "must be a finite number (NaN, Infinity and numbers too large for a double are not JSON)"


class JsonTooDeepError(ValueError):
    """JSON nested deeper than allowed, or too deep to parse at all; `path` is where the limit was crossed."""

    def __init__(self, path: str | None, limit: int = MAX_JSON_DEPTH) -> None:
        where = f" at '{_shorten(path)}'" if path else ""
        super().__init__(f"JSON is nested more than {limit} levels deep{where}; the limit is {limit}.")
        self.path = path
        self.limit = limit


def _shorten(path: str, keep: int = 4) -> str:
    parts = path.split(".")
    return path if len(parts) <= 2 * keep else ".".join([*parts[:keep], "…", *parts[-keep:]])


@dataclass
class JsonCheck:
    """What `inspect_json` found: where nesting went too deep (if it did) and which numbers are not finite."""

    too_deep: str | None = None
    non_finite: list[str] = field(default_factory=list)


def inspect_json(value: Any, root: str = "", max_depth: int = MAX_JSON_DEPTH) -> JsonCheck:
    """Walk a parsed JSON value without recursion; paths are dotted (`input_data.items.2.f`) as in 422 details."""
    check = JsonCheck()
    stack: list[tuple[Any, str, int]] = [(value, root, 1)]
    while stack:
        current, path, depth = stack.pop()
        if isinstance(current, float):
            if not math.isfinite(current) and len(check.non_finite) < MAX_REPORTED_FIELDS:
                check.non_finite.append(path or "value")
            continue
        if not isinstance(current, dict | list | tuple):
            continue
        if depth > max_depth:
            check.too_deep = path or "value"
            return check
        items = current.items() if isinstance(current, dict) else enumerate(current)
        children = [(child, f"{path}.{key}" if path else str(key), depth + 1) for key, child in items]
        stack.extend(reversed(children))  # popped in document order, so fields are reported in that order
    return check


def loads_bounded(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads`, raising `JsonTooDeepError` (a ValueError) for JSON nested deeper than `max_depth`."""
    return loads_checked(text, max_depth)[0]


def loads_checked(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> tuple[Any, JsonCheck]:
    """`loads_bounded` and what `inspect_json` found, from one walk of the value (request bodies need both)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooDeepError(None, max_depth) from None
    check = inspect_json(value, max_depth=max_depth)
    if check.too_deep is not None:
        raise JsonTooDeepError(check.too_deep, max_depth)
    return value, check


def strict_dumps(value: Any) -> str:
    """Compact JSON that is valid for every JSON parser: non-finite numbers raise ValueError."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def check_json(value: Any) -> Any:
    """Return `value` unchanged if it is plain JSON (no NaN/Infinity); else raise naming the type."""
    if value is None or isinstance(value, str | bool | int):
        return value
    try:
        json.dumps(value, allow_nan=False)
    except RecursionError:
        raise ResultNotSerializableError(
            "The result is nested too deeply to be stored as JSON; return a flatter structure."
        ) from None
    except TypeError as exc:
        raise ResultNotSerializableError(
            f"The result is not JSON serialisable: {exc}. Return dicts, lists, strings, numbers, booleans or None "
            f"(convert other types, e.g. datetime.isoformat())."
        ) from None
    except ValueError as exc:
        fields = inspect_json(value, "result", max_depth=_CYCLE_GUARD_DEPTH).non_finite
        if fields:
            raise ResultNotSerializableError(
                f"The result is not valid JSON: {', '.join(fields)} {NOT_FINITE}."
            ) from None
        raise ResultNotSerializableError(f"The result is not valid JSON: {exc}.") from None
    return value


def json_safe(value: Any, _depth: int = 0, max_depth: int = 32) -> Any:
    """A JSON-compatible copy; values JSON cannot hold become `<TypeName>` (and NaN `<nan>`)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else f"<{value}>"
    if _depth > max_depth:
        return f"<{type(value).__name__}>"
    if isinstance(value, dict):
        return {str(k): json_safe(v, _depth + 1, max_depth) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, _depth + 1, max_depth) for v in value]
    return f"<{type(value).__name__}>"


_HIDDEN_TYPES = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)


def script_variables(namespace: dict[str, Any], injected: dict[str, Any]) -> dict[str, Any]:
    """The top-level variables a script defined, JSON-safe; modules, functions, classes and our own names left out."""
    return {
        name: json_safe(value)
        for name, value in namespace.items()
        if not name.startswith("_")
        and not isinstance(value, _HIDDEN_TYPES)
        and not (name in injected and injected[name] is value)
    }
