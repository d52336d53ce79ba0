import halo_psa_sdk
from bifrost import workflow


@workflow
async def sync_tickets(context):
    return halo_psa_sdk.list_tickets()
