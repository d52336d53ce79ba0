"""The seed system's first workflow, at the root of the workspace."""

from bifrost import param, workflow


@workflow(name="hello_world", description="Say hello to someone", category="examples", execution_mode="sync")
@param("name", "string", label="Your name", required=True)
@param("greeting", "string", label="Greeting", default_value="Hello")
async def hello_world(context, name: str, greeting: str = "Hello"):
    """A simple workflow that greets someone."""
    context.info(f"Greeting {name}")
    return {"message": f"{greeting}, {name}!", "executed_by": context.user_id}
