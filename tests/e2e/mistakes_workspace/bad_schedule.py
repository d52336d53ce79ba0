from bifrost import workflow


@workflow(name="nightly_sync", schedule="0 0 2 * * *")
async def nightly_sync(context):
    return "synced"
