"""What a config value must be for its type, checked before anything is stored; every problem named by field."""

from __future__ import annotations

import json
import re
from typing import Any

from shared.errors import FieldError
from shared.storage.config import CONFIG_TYPES, MAX_SECRET_CHARS, MAX_VALUE_CHARS, SECRET
from shared.storage.packing import utf16_units

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_INT_LIMIT = 2**63  # what every consumer of an int (JSON, .NET, Table storage's Int64) holds
_EXPECTED = {
    "string": "must be a string",
    "int": "must be an integer (a JSON number without a fraction), not text or a boolean",
    "bool": "must be true or false (a JSON boolean), not text or a number",
    "secret": "must be a non-empty string",
}


def key_errors(key: str) -> list[FieldError]:
    if KEY_PATTERN.match(key):
        return []
    return [FieldError("key", "must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit")]


def body_errors(body: dict[str, Any]) -> list[FieldError]:
    """Every problem of a PUT body `{"type": ..., "value": ...}`: unknown fields, the type, the value for its type."""
    errors = [FieldError(name, "unknown field; the body is {\"type\": ..., \"value\": ...}")
              for name in sorted(set(body) - {"type", "value"})]
    type_ = body.get("type")
    if type_ not in CONFIG_TYPES:
        errors.append(FieldError("type", f"must be one of {', '.join(CONFIG_TYPES)}"))
    if "value" not in body:
        errors.append(FieldError("value", "is required"))
    elif type_ in CONFIG_TYPES:
        problem = value_problem(type_, body["value"])
        if problem:
            errors.append(FieldError("value", problem))
    return errors


def value_problem(type_: str, value: Any) -> str | None:
    """Why `value` is not a `type_` value (or too large to store), or None."""
    fits = {
        "string": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "json": True,
        "secret": isinstance(value, str) and value != "",
    }[type_]
    if not fits:
        return f"{_EXPECTED[type_]} for type {type_}"
    if type_ == "int" and not -_INT_LIMIT <= value < _INT_LIMIT:
        return "must be between -2**63 and 2**63 - 1"
    if type_ == SECRET:
        size, limit = len(value), MAX_SECRET_CHARS
    else:
        size, limit = utf16_units(json.dumps(value, ensure_ascii=False, separators=(",", ":"))), MAX_VALUE_CHARS
    if size > limit:
        return f"must be at most {limit:,} characters{'' if type_ == SECRET else ' as JSON'} (got {size:,})"
    return None
