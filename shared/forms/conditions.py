"""`visible_if`: when a field is shown, as plain data that a server and a browser evaluate the same way.

Grammar (JSON; exactly one form per object):

    {"field": "<name>", "equals": <value>}        the field's value equals <value>
    {"field": "<name>", "in": [<value>, ...]}     the field's value equals one of the values
    {"field": "<name>", "not_empty": true}        the field has a value (false: it has none)
    {"all": [<condition>, ...]}                   every condition holds (an empty list holds)
    {"any": [<condition>, ...]}                   at least one holds (an empty list does not)
    {"not": <condition>}                          the condition does not hold

Equality is JSON equality: the same type and value (`1` equals `1.0`, but neither equals `"1"` nor `true`; lists
and objects compare item by item). "No value" is null, absent, `""`, `[]` or `{}`. A field that is itself hidden has
no value, so a chain of conditions hides everything below a hidden field. Conditions may not form a cycle (checked
when a form is saved), so evaluating every field in dependency order always ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import FieldError

Condition = Mapping[str, Any]
_LEAF_TESTS = ("equals", "in", "not_empty")
_MAX_DEPTH = 10


def problems(condition: Any, path: str, depth: int = 0) -> list[FieldError]:
    """Every way `condition` breaks the grammar, each at its own path (`fields[2].visible_if.all[1].in`)."""
    if not isinstance(condition, Mapping):
        return [FieldError(path, "must be an object such as {\"field\": \"country\", \"equals\": \"de\"}")]
    if depth > _MAX_DEPTH:
        return [FieldError(path, f"is nested more than {_MAX_DEPTH} levels deep")]
    if "all" in condition or "any" in condition:
        return _group_problems(condition, path, depth)
    if "not" in condition:
        if set(condition) != {"not"}:
            return [FieldError(path, "'not' takes one condition and nothing beside it")]
        return problems(condition["not"], f"{path}.not", depth + 1)
    return _leaf_problems(condition, path)


def _group_problems(condition: Condition, path: str, depth: int) -> list[FieldError]:
    if "all" in condition and "any" in condition:
        return [FieldError(path, "use one of all / any: nest one group in the other to combine them")]
    key = "all" if "all" in condition else "any"
    if set(condition) != {key}:
        return [FieldError(path, f"'{key}' takes a list of conditions and nothing beside it")]
    items = condition[key]
    if not isinstance(items, list):
        return [FieldError(f"{path}.{key}", "must be a list of conditions")]
    return [error for i, item in enumerate(items) for error in problems(item, f"{path}.{key}[{i}]", depth + 1)]


def _leaf_problems(condition: Condition, path: str) -> list[FieldError]:
    tests = [key for key in _LEAF_TESTS if key in condition]
    unknown = sorted(set(condition) - {"field", *_LEAF_TESTS}, key=str)  # str: keys of a dict made in Python
    if unknown:
        return [FieldError(f"{path}.{unknown[0]}", "unknown key; a condition uses field with equals, in or "
                                                   "not_empty, or all, any, not")]
    if not isinstance(condition.get("field"), str) or not condition["field"]:
        return [FieldError(f"{path}.field", "must name a field of this form")]
    if len(tests) != 1:
        return [FieldError(path, "needs exactly one of equals, in, not_empty beside field")]
    if tests == ["in"] and not isinstance(condition["in"], list):
        return [FieldError(f"{path}.in", "must be a list of values")]
    if tests == ["not_empty"] and not isinstance(condition["not_empty"], bool):
        return [FieldError(f"{path}.not_empty", "must be true or false")]
    return []


def fields_read(condition: Condition) -> set[str]:
    """The fields whose values the condition reads (for `depends_on` and the cycle check)."""
    if "all" in condition or "any" in condition:
        items = condition.get("all", condition.get("any")) or []
        return {name for item in items if isinstance(item, Mapping) for name in fields_read(item)}
    if "not" in condition and isinstance(condition["not"], Mapping):
        return fields_read(condition["not"])
    field = condition.get("field")
    return {field} if isinstance(field, str) else set()


def holds(condition: Condition, values: Mapping[str, Any]) -> bool:
    """Whether the condition holds over `values` (visible fields only: a hidden field is simply absent)."""
    if "all" in condition:
        return all(holds(item, values) for item in condition["all"])
    if "any" in condition:
        return any(holds(item, values) for item in condition["any"])
    if "not" in condition:
        return not holds(condition["not"], values)
    value = values.get(condition["field"])
    if "equals" in condition:
        return json_equal(value, condition["equals"])
    if "in" in condition:
        return any(json_equal(value, candidate) for candidate in condition["in"])
    return is_empty(value) != bool(condition["not_empty"])


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON (and a browser's JSON) sees it: Python's `1 == True` is not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b
