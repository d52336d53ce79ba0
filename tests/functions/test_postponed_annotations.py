"""A module with `from __future__ import annotations` (annotations are text) gets the same input types as one without.

The issue: `name: str | None = None` was inferred as `json` unless the module postponed annotations; it refused
"Ada" and turned "123" into 123.
"""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

from shared import ExecutionContext, workflow
from shared.errors import InputValidationError
from shared.functions.registry import FunctionRegistry, use_registry
from shared.functions.validation import validate_parameters


class Point(BaseModel):
    x: int
    y: int


registry = FunctionRegistry()
with use_registry(registry):

    @workflow(name="postponed")
    async def postponed(context: ExecutionContext, name: str | None = None, mode: Literal["a", "b"] = "a",
                        ids: list[int] | None = None, at: Point | None = None) -> None: ...


def both_ways() -> list:
    """The same signature in a module that does not postpone annotations (defined here without the text form)."""
    local = FunctionRegistry()
    with use_registry(local):

        async def eager(context, name=None, mode="a", ids=None, at=None): ...

        eager.__annotations__.update({"name": str | None, "mode": Literal["a", "b"], "ids": list[int] | None,
                                      "at": Point | None})
        workflow(name="eager")(eager)
    return [registry.get("postponed"), local.get("eager")]


@pytest.mark.parametrize("metadata", both_ways(), ids=["postponed", "eager"])
def test_optional_text_and_other_types_are_the_same_with_or_without_postponed_annotations(metadata) -> None:
    # Given the same signature, with annotations as text or as objects
    # Then the inputs have the same types
    assert [(p.name, p.type) for p in metadata.parameters] == [
        ("name", "string"), ("mode", "choice"), ("ids", "list"), ("at", "object")]
    # And "Ada" is accepted, "123" stays text, "1, 2" is a list of ints, JSON text becomes the model
    arguments = validate_parameters(metadata, {"name": "123", "mode": "b", "ids": "1, 2", "at": '{"x": 1, "y": 2}'})
    assert arguments == {"name": "123", "mode": "b", "ids": [1, 2], "at": Point(x=1, y=2)}
    assert validate_parameters(metadata, {"name": "Ada"})["name"] == "Ada"
    with pytest.raises(InputValidationError) as caught:
        validate_parameters(metadata, {"mode": "c"})
    assert caught.value.details == [{"field": "mode", "message": "Input should be 'a' or 'b'"}]
