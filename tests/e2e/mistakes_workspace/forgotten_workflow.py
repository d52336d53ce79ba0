from bifrost import param


@param("email", "email", "Email", True)
async def disable_user(context, email: str):
    return {"disabled": email}
