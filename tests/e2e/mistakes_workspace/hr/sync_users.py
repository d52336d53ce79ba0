from bifrost import workflow


@workflow
async def sync_users(context):
    return "hr's users"
