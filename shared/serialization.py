"""JSON rules for what executions return: results must be JSON; captured variables are made JSON-safe."""

from __future__ import annotations

import json
import types
from typing import Any

from shared.errors import ResultNotSerializableError


def check_json(value: Any) -> Any:
    """Return `value` unchanged if it is plain JSON (no NaN/Infinity); else raise naming the type."""
    if value is None or isinstance(value, str | bool | int):
        return value
    try:
        json.dumps(value, allow_nan=False)
    except TypeError as exc:
        raise ResultNotSerializableError(
            f"The result is not JSON serialisable: {exc}. Return dicts, lists, strings, numbers, booleans or None "
            f"(convert other types, e.g. datetime.isoformat())."
        ) from None
    except ValueError as exc:
        raise ResultNotSerializableError(f"The result is not valid JSON: {exc}.") from None
    return value


def json_safe(value: Any, _depth: int = 0) -> Any:
    """A JSON-compatible copy; values JSON cannot hold become `<TypeName>`."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else f"<{value}>"
    if _depth > 32:
        return f"<{type(value).__name__}>"
    if isinstance(value, dict):
        return {str(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, _depth + 1) for v in value]
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
