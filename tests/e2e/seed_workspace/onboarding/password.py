"""Reset a password to a temporary one (shown masked)."""

import helpers
from bifrost import get_context, param, workflow


def _mask(password):
    return password[:4] + "*" * (len(password) - 4)


@workflow(name="reset_password", description="Set a temporary password", category="Onboarding",
          execution_mode="sync")
@param("email", "email", "Account", True)
@param("length", "int", "Password length", False, {"min": 12, "max": 64}, None, 16)
async def reset_password(context, email: str, length: int = 16):
    password = helpers.temporary_password(email, length)
    get_context().info("Temporary password set", {"email": email, "length": len(password)})
    return {"email": email, "temporary_password": _mask(password), "same_context": get_context() is context}
