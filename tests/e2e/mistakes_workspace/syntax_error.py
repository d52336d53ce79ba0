from bifrost import workflow


@workflow
async def broken(context)
    return "never"
