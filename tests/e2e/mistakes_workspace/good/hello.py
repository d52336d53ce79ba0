"""Fine: loads and runs, whatever its neighbours got wrong."""

import helpers
from bifrost import data_provider, param, workflow


@workflow(category="examples", execution_mode="sync")
@param("name", "string", "Name", True, {"min_length": 1})
async def still_loads(context, name: str):
    context.info("greeting", {"name": name})
    return {"greeting": helpers.shout(f"hello {name}")}


@data_provider
async def available_licenses(context):
    return [{"label": "E3", "value": "M365_E3"}]
