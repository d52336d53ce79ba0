"""`@param(validation={...})`: limits are enforced by the function's input model — every broken limit reported at
once, per field, before user code runs (HTTP answers 422 with these details) — and shown in `input_schema`."""

from __future__ import annotations

from typing import Any

import pytest

from shared import ExecutionContext, param, workflow
from shared.engine.core import Engine
from shared.errors import InputValidationError
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRequest, ExecutionResult, ExecutionStatus

registry = FunctionRegistry()
engine = Engine(registry)
calls: list[dict[str, Any]] = []

with use_registry(registry):

    @workflow
    @param("username", "string", "User name", True, {"min_length": 3, "max_length": 12, "pattern": "^[a-z]+$"})
    @param("seats", "int", "Seats", validation={"min": 1, "max": 50})
    @param("discount", "float", "Discount", validation={"min": 0, "max": 0.5})
    @param("groups", "list", "Groups", validation={"max_length": 2})
    @param("plan", "string", "Plan", validation={"enum": ["basic", "pro"]})
    @param("owner", "email", "Owner", validation={"pattern": r"@example\.com$"})
    @param("code", validation={"pattern": r"^(?!TEST)[A-Z0-9]+$"})  # Python regex: a lookahead works
    async def create_account(context: ExecutionContext, username: str, seats: int = 1, discount: float = 0.0,
                             groups: list | None = None, plan: str = "basic", owner: str | None = None,
                             code: str = "A1") -> str:
        calls.append({"username": username, "seats": seats, "groups": groups, "plan": plan, "owner": owner})
        return username


def run(**parameters: Any) -> Any:
    return engine.execute(ExecutionRequest(name="create_account", parameters=parameters, transient=True))


async def test_valid_input_within_the_limits_runs_coerced() -> None:
    # When every value is within its limits, given as text as a form or query string sends it
    result: ExecutionResult = await run(username="ada", seats="50", discount="0.5", groups="a, b", plan="pro",
                                        owner="ada@example.com", code="PROD1")
    # Then the workflow ran with the coerced values
    assert result.status == ExecutionStatus.SUCCESS and result.result == "ada"
    assert calls[-1] == {"username": "ada", "seats": 50, "groups": ["a", "b"], "plan": "pro",
                         "owner": "ada@example.com"}


async def test_every_broken_limit_is_reported_at_once_per_field_and_nothing_runs() -> None:
    # Given values breaking every limit
    before = len(calls)
    with pytest.raises(InputValidationError) as caught:
        await run(username="Ad", seats=0, discount=0.75, groups=["a", "b", "c"], plan="gold",
                  owner="ada@elsewhere.org", code="TEST1")
    # Then each field says which limit, in plain words, all in one error, and the workflow did not run
    assert {d["field"]: d["message"] for d in caught.value.details} == {
        "username": "must be at least 3 characters long",
        "seats": "must be at least 1",
        "discount": "must be at most 0.5",
        "groups": "must have at most 2 items",
        "plan": "must be one of 'basic', 'pro'",
        "owner": r"must match @example\.com$",
        "code": "must match ^(?!TEST)[A-Z0-9]+$",
    }
    assert len(calls) == before


@pytest.mark.parametrize(
    ("parameters", "field", "message"),
    [
        ({"username": "adalovelacecountess"}, "username", "must be at most 12 characters long"),
        ({"username": "Ada1"}, "username", "must match ^[a-z]+$"),
        ({"username": "ada", "seats": "51"}, "seats", "must be at most 50"),
    ],
)
async def test_each_limit_has_its_own_message(parameters: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InputValidationError) as caught:
        await run(**parameters)
    assert caught.value.details == [{"field": field, "message": message}]


def test_the_limits_are_in_the_input_schema_for_forms() -> None:
    properties = registry.get("create_account").to_api()["input_schema"]["properties"]  # type: ignore[union-attr]
    assert properties["username"] == {"title": "User name", "type": "string", "minLength": 3, "maxLength": 12,
                                      "pattern": "^[a-z]+$"}
    assert (properties["seats"]["minimum"], properties["seats"]["maximum"]) == (1, 50)
    assert (properties["discount"]["minimum"], properties["discount"]["maximum"]) == (0, 0.5)
    assert properties["groups"]["maxItems"] == 2 and "maxLength" not in properties["groups"]
    assert properties["plan"]["enum"] == ["basic", "pro"]
    assert properties["owner"]["format"] == "email" and properties["owner"]["pattern"] == r"@example\.com$"
