"""Greet someone: the smallest useful workflow, with typed parameters and defaults."""

from shared import ExecutionContext, UserError, param, workflow


@workflow(
    name="greet",
    description="Greet someone by name, optionally several times and formally.",
    category="Examples",
    endpoint_enabled=True,
    timeout_seconds=30,
)
@param("name", type="string", required=True, help_text="Who to greet")
@param("times", type="int", default_value=1, help_text="How many greetings (1-10)")
@param("formal", type="bool", default_value=False)
async def greet(context: ExecutionContext, name: str, times: int = 1, formal: bool = False) -> dict:
    if not 1 <= times <= 10:
        raise UserError(f"times must be between 1 and 10, got {times}")
    salutation = "Good day" if formal else "Hello"
    context.logger.info("greeting %s %d time(s)", name, times)
    return {"greetings": [f"{salutation}, {name}!" for _ in range(times)], "requested_by": context.user_id}
