from bifrost import param, workflow


@workflow(name="assign_license", execution_mode="sync")
@param("license", "string", "License", True, None, "available_licences")
async def assign_license(context, license: str):
    return {"assigned": license}
