from bifrost import workflow


@workflow(name="full_export", timeout_seconds=7200)
async def full_export(context):
    return "exported"
