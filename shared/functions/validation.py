"""Check and coerce an execution's parameters with the function's input model (`shared.functions.model`).

Every problem is collected, so the caller learns about all wrong fields at once, and nothing reaches user code
until the whole input is valid. Query-string style values are coerced: "3" -> 3, "true" -> True, "a,b" -> [a, b].
"""

from __future__ import annotations

from typing import Any

from shared.functions.model import InputModel, build_input_model, json_field_errors
from shared.functions.registry import FunctionMetadata

__all__ = ["json_field_errors", "validate_parameters"]


def validate_parameters(metadata: FunctionMetadata, values: dict[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments to call the function with, or `InputValidationError` listing every bad field."""
    if not values and not metadata.parameters:
        return {}  # the common no-input call skips the model entirely
    return input_model(metadata).validate(values or {})


def input_model(metadata: FunctionMetadata) -> InputModel:
    """The model registration built; one is built here only for metadata made by hand (not by the decorators)."""
    if metadata.input_model is not None:
        return metadata.input_model
    return build_input_model(metadata.name, metadata.description, metadata.function, metadata.parameters)
