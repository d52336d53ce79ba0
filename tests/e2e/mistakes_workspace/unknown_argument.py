from bifrost import workflow


@workflow(name="create_user", descripton="Create a user in Microsoft 365")
async def create_user(context, email: str):
    return {"email": email}
