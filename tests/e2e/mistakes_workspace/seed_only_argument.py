from bifrost import workflow


@workflow(name="lookup_user", category="AI", is_tool=True)
async def lookup_user(context, email: str):
    return {"email": email}
