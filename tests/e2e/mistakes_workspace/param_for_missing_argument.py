from bifrost import param, workflow


@workflow(name="invite_guest")
@param("emial", "email", "Guest email", True)
async def invite_guest(context, email: str):
    return {"invited": email}
