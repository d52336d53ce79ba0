"""Offboard a leaver. Protected accounts are refused with a message for the person who asked."""

import helpers
from bifrost import OrganizationContext, UserError, param, workflow
from modules.directory import is_protected


@workflow(
    name="offboard_user",
    description="Block sign-in for a leaver and record why",
    category="Onboarding",
    tags=["m365"],
    execution_mode="sync",
)
@param("email", "email", "Leaver's email", True)
@param("reason", "string", "Reason", False, {"max_length": 200}, None, "left the company")
def offboard_user(context: OrganizationContext, email: str, reason: str = "left the company"):
    if is_protected(email):
        context.warning("Refusing to offboard a protected account", {"email": email})
        raise UserError(f"{email} is a protected account and cannot be offboarded.")
    context.log("info", "Blocking sign-in", {"email": email})
    context.save_checkpoint("sign_in_blocked", {"email": email})
    return {"disabled": email, "reason": reason, "mail_forwarded_to": helpers.leaver_mailbox(email)}
