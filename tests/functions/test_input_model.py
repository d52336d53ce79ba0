"""The input model built per function at registration: inferred types, coercion, per-field errors, JSON Schema."""

import enum
import json
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from shared import ExecutionContext, param, workflow
from shared.engine.core import Engine
from shared.errors import InputValidationError, RegistrationError
from shared.functions.registry import FunctionMetadata, FunctionRegistry, use_registry
from shared.functions.validation import validate_parameters
from shared.models import ExecutionRequest, ExecutionStatus


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


class Address(BaseModel):
    street: str
    zip_code: int


registry = FunctionRegistry()
engine = Engine(registry)

with use_registry(registry):

    @workflow(name="rich", description="Every supported kind of input")
    @param("plan", required=True, label="Plan", help_text="Which plan to buy")
    async def rich(
        context: ExecutionContext,
        plan: Literal["basic", "pro"],
        size: Size = Size.SMALL,
        tags: list[str] | None = None,
        counts: list[int] | None = None,
        when: datetime | None = None,
        day: date | None = None,
        address: Address | None = None,
        limit: Annotated[int, Field(ge=1, le=10)] = 5,
        nickname: str | None = None,
    ) -> dict[str, Any]:
        return {
            "plan": plan, "size": type(size).__name__ + "." + size.name, "tags": tags, "counts": counts,
            "when": when.isoformat() if when else None, "day": repr(day), "limit": limit, "nickname": nickname,
            "address": [type(address).__name__, address.zip_code] if address else None,
        }

    @workflow(name="odd_names")
    @param("json", type="int", required=True)
    async def odd_names(context: ExecutionContext, json: int, model_id: str = "m", schema: bool = False) -> list:
        return [json, model_id, schema]

    @workflow(name="open_ended")
    @param("known", type="int")
    async def open_ended(context: ExecutionContext, known: int = 0, **rest: Any) -> dict[str, Any]:
        return {"known": known, **rest}

    @workflow(name="annotated_param")
    @param("count", help_text="How many")
    async def annotated_param(context: ExecutionContext, count: int, note="") -> int:
        return count

    @workflow(name="numbered_choices")
    async def numbered_choices(
        context: ExecutionContext, tier: Literal[1, 2, 3] = 1, strict: Literal[True] | None = None,
        ref: int | str | None = None,
    ) -> list:
        return [tier, strict, ref]


def meta(name: str) -> FunctionMetadata:
    found = registry.get(name)
    assert found is not None
    return found


def errors_of(name: str, **values: Any) -> dict[str, str]:
    with pytest.raises(InputValidationError) as caught:
        validate_parameters(meta(name), values)
    return {detail["field"]: detail["message"] for detail in caught.value.details}


async def test_every_supported_type_reaches_the_function_as_its_python_value() -> None:
    # Given text input, as from a query string or a form
    request = ExecutionRequest(name="rich", transient=True, parameters={
        "plan": "pro", "size": "l", "tags": "a, b", "counts": "1, 2", "when": "2026-03-29T09:30:00+00:00",
        "day": "2026-03-29", "address": '{"street": "Main", "zip_code": "1234"}', "limit": "7", "nickname": "123",
    })
    # When it runs
    result = await engine.execute(request)
    # Then the function got an Enum member, typed lists, a datetime, a date, the model instance and the text as text
    assert result.status is ExecutionStatus.SUCCESS, result.error_message
    assert result.result == {
        "plan": "pro", "size": "Size.LARGE", "tags": ["a", "b"], "counts": [1, 2],
        "when": datetime(2026, 3, 29, 9, 30, tzinfo=UTC).isoformat(), "day": "datetime.date(2026, 3, 29)",
        "limit": 7, "nickname": "123", "address": ["Address", 1234],
    }


def test_every_bad_field_is_named_with_what_was_expected() -> None:
    # Given wrong values for choices, list items, a datetime, a model's field and a constrained int
    fields = errors_of("rich", plan="gold", size="xl", counts="1, x", when="soon", address={"street": "Main"},
                       limit=11, colour="red")
    # Then each is reported at its own path, at once
    assert fields == {
        "plan": "Input should be 'basic' or 'pro'",
        "size": "Input should be 's' or 'l'",
        "counts.1": "expected an integer: Input should be a valid integer, unable to parse string as an integer",
        "when": fields["when"],
        "address.zip_code": "is required",
        "limit": "must be at most 10",
        "colour": "unknown parameter; 'rich' accepts plan, size, tags, counts, when, day, address, limit, nickname",
    }
    assert "datetime" in fields["when"]


def test_optional_text_is_text_and_blank_counts_as_not_given() -> None:
    # Given `nickname: str | None = None` (the issue: it was inferred as json, "123" became 123)
    arguments = validate_parameters(meta("rich"), {"plan": "basic", "nickname": "123", "tags": "", "day": None})
    # Then "123" stays text, and blank values count as not given: the function's own defaults apply
    assert arguments == {"plan": "basic", "nickname": "123", "size": Size.SMALL, "limit": 5}
    assert errors_of("rich", plan="") == {"plan": "is required"}


def test_param_without_type_takes_the_annotation() -> None:
    # Given @param("count", help_text=...) on `count: int`, and an unannotated argument with no @param
    count, note = meta("annotated_param").parameters
    assert (count.type, count.help_text, note.type) == ("int", "How many", "json")
    # Then text is coerced to an int, and a non-number is refused
    assert validate_parameters(meta("annotated_param"), {"count": "4"}) == {"count": 4, "note": ""}
    assert errors_of("annotated_param", count="four")["count"].startswith("expected an integer")


def test_parameter_names_pydantic_reserves_still_work() -> None:
    # Given parameters called json, model_id and schema (names BaseModel uses itself)
    arguments = validate_parameters(meta("odd_names"), {"json": "3", "model_id": "x", "schema": "true"})
    # Then they validate under their own names
    assert arguments == {"json": 3, "model_id": "x", "schema": True}
    assert set(meta("odd_names").to_api()["input_schema"]["properties"]) == {"json", "model_id", "schema"}
    assert errors_of("odd_names") == {"json": "is required"}


def test_kwargs_functions_pass_undeclared_inputs_through() -> None:
    arguments = validate_parameters(meta("open_ended"), {"known": "2", "anything": [1], "n": None})
    assert arguments == {"known": 2, "anything": [1], "n": None}
    assert meta("open_ended").to_api()["input_schema"]["additionalProperties"] is True


def test_input_schema_is_plain_stable_json_with_titles_defaults_and_required() -> None:
    # Given the listing entry of a function with labelled, defaulted and required inputs
    schema = meta("rich").to_api()["input_schema"]
    # Then it is JSON (no Python objects), and the same on every call
    assert json.loads(json.dumps(schema, allow_nan=False)) == schema == meta("rich").to_api()["input_schema"]
    properties = schema["properties"]
    assert schema["title"] == "rich" and schema["description"] == "Every supported kind of input"
    assert schema["required"] == ["plan"] and schema["additionalProperties"] is False
    assert properties["plan"] == {"enum": ["basic", "pro"], "type": "string", "title": "Plan",
                                  "description": "Which plan to buy"}
    assert properties["size"]["default"] == "s" and schema["$defs"]["Size"]["enum"] == ["s", "l"]
    assert properties["counts"] == {"type": "array", "items": {"type": "integer"}, "title": "Counts"}  # no null default
    assert properties["when"]["format"] == "date-time" and properties["day"]["format"] == "date"
    assert properties["limit"] == {"type": "integer", "minimum": 1, "maximum": 10, "default": 5, "title": "Limit"}
    assert schema["$defs"]["Address"]["required"] == ["street", "zip_code"]
    # And the declared types have the schema a form needs
    greetish = meta("odd_names").to_api()["input_schema"]["properties"]
    assert greetish["json"]["type"] == "integer" and greetish["schema"] == {"type": "boolean", "default": False,
                                                                           "title": "Schema"}


def test_a_default_that_is_not_json_is_left_out_of_the_listing_and_the_schema() -> None:
    sentinel = object()
    local = FunctionRegistry()
    with use_registry(local):

        @workflow(name="sentinel")
        async def with_sentinel(context: ExecutionContext, marker: Any = sentinel) -> bool:
            return marker is sentinel

    entry = local.get("sentinel").to_api()  # type: ignore[union-attr]
    assert entry["parameters"][0]["default_value"] is None
    assert "default" not in entry["input_schema"]["properties"]["marker"]
    assert validate_parameters(local.get("sentinel"), {})["marker"] is sentinel  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [(set[int], "set"), (bytes, "bytes"), (dict[int, str], "object keys are text"), (Literal[1.5], "Literal")],
)
def test_an_unsupported_type_is_an_import_error_naming_function_and_parameter(annotation: Any, expected: str) -> None:
    local = FunctionRegistry()
    with use_registry(local), pytest.raises(RegistrationError) as caught:

        async def odd(context: ExecutionContext, value=None) -> None: ...

        odd.__annotations__["value"] = annotation
        workflow(name="odd")(odd)
    message = str(caught.value)
    assert "@workflow on odd" in message and "parameter 'value'" in message and expected in message
    assert local.get("odd") is None


def test_an_annotation_that_cannot_be_resolved_is_an_import_error() -> None:
    expected = r"@workflow on typo: parameter 'who': its annotation cannot be resolved"
    with use_registry(FunctionRegistry()), pytest.raises(RegistrationError, match=expected):

        @workflow(name="typo")
        async def typo(context: ExecutionContext, who: "Strng") -> None: ...  # type: ignore[name-defined]  # noqa: F821


def test_number_and_boolean_choices_also_come_as_text() -> None:
    # Given `tier: Literal[1, 2, 3]` and `strict: Literal[True]`, and values as a form or query string sends them
    arguments = validate_parameters(meta("numbered_choices"), {"tier": "2", "strict": "true"})
    # Then they are the choices, as "3" is an int for an `int` parameter; a value that is no choice is refused
    assert arguments == {"tier": 2, "strict": True}
    assert errors_of("numbered_choices", tier="4") == {"tier": "Input should be 1, 2 or 3"}


def test_a_union_of_several_types_reports_one_error_at_the_field() -> None:
    # Given `ref: int | str | None` and a value that is neither
    fields = errors_of("numbered_choices", ref=[1])
    # Then the error names the caller's field, not pydantic's union members (`ref.int`, `ref.str`)
    assert fields == {"ref": "expected int or str"}
    assert validate_parameters(meta("numbered_choices"), {"ref": "a7"}) == {"tier": 1, "ref": "a7"}
