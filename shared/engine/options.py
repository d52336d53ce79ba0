"""The options layer of a data provider's pipeline: what a provider returns must be options a dropdown can show.

A provider returns a list of `{"label", "value", "description"?, "metadata"?}`. Anything else — a dict, a list of
strings, an item without a label — fails the run with `InvalidOptions` and a message that names the first items
that are wrong and why, so the provider's author sees what to fix; it is never cached and never reaches a form.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from shared.engine.layers import Outcome
from shared.models import ExecutionStatus

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation

OPTION_KEYS = ("label", "value", "description", "metadata")  # what an answer carries of each item
_SHOWN_PROBLEMS = 5


def shaped(call: Callable[[Invocation], Awaitable[Outcome]]) -> Callable[[Invocation], Awaitable[Outcome]]:
    """Turn a successful provider run whose value is not a list of options into a failure naming what is wrong."""

    async def run(invocation: Invocation) -> Outcome:
        outcome = await call(invocation)
        if outcome.status is not ExecutionStatus.SUCCESS:
            return outcome
        problems = options_problems(outcome.result)
        if not problems:
            outcome.result = [{key: item[key] for key in OPTION_KEYS if item.get(key) is not None}
                              for item in outcome.result]  # other keys an item carries are not part of the answer
            return outcome
        message = f"Data provider '{invocation.function_name}' returned invalid options: {'; '.join(problems)}."
        invocation.capture.add("ERROR", "conduit.engine", message)
        return Outcome(ExecutionStatus.FAILED, error_message=message, error_type="InvalidOptions")

    return run


def options_problems(value: Any) -> list[str]:
    """What keeps `value` from being a list of options (empty when it is one); at most a few, each naming its item."""
    if not isinstance(value, list):
        return [f"expected a list of {{'label', 'value'}} items, got {type(value).__name__}"]
    problems: list[str] = []
    for index, item in enumerate(value):
        problem = _item_problem(item)
        if problem:
            problems.append(f"item {index} {problem}")
        if len(problems) == _SHOWN_PROBLEMS:
            problems.append("…")
            break
    return problems


def _item_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return f"is {type(item).__name__}, not an object with 'label' and 'value'"
    missing = [key for key in ("label", "value") if key not in item]
    if missing:
        return f"has no {' or '.join(repr(k) for k in missing)}"
    if not isinstance(item["label"], str):
        return f"has a label that is {type(item['label']).__name__}, not text"
    if not isinstance(item["value"], str | int | float | bool):  # what a select can send back and compare
        return f"has a value that is {_json_kind(item['value'])}; a value is text, a number or true/false"
    if "description" in item and item["description"] is not None and not isinstance(item["description"], str):
        return "has a description that is not text"
    if "metadata" in item and item["metadata"] is not None and not isinstance(item["metadata"], dict):
        return "has metadata that is not an object"
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__
