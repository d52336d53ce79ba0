"""Options for onboarding's form fields."""

from bifrost import ExecutionContext, data_provider


@data_provider
async def available_licenses(context: ExecutionContext):
    """Licenses with free seats."""
    return [
        {"label": "Microsoft 365 Business Basic", "value": "M365_BUSINESS_BASIC", "metadata": {"free": 8}},
        {"label": "Microsoft 365 E3", "value": "M365_E3", "metadata": {"free": 2}},
    ]


@data_provider(name="departments", description="Departments of the organization", category="Organization",
               tags=["hr"], cache_ttl_seconds=600)
def departments(context):
    names = ["Sales", "Engineering", "Finance"]
    return [{"label": name, "value": name} for name in names]
