from bifrost import workflow


@workflow(name="poll_tickets", schedule="*/30 * * * * *")
async def poll_tickets(context):
    return "polled"
