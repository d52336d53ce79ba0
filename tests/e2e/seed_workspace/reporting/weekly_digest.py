"""The Monday digest mail: who gets it comes from configuration (CONDUIT_CONFIG_DIGEST_RECIPIENT)."""

import helpers
from bifrost import UserError, param, workflow
from modules.formatting import bullet_list, plural


@workflow(
    name="weekly_digest",
    description="Summarise the week for the IT team",
    category="Reporting",
    tags=["reporting", "email"],
    schedule="0 7 * * 1",
    execution_mode="sync",
)
@param("weeks", "int", "Weeks to cover", False, {"min": 1, "max": 12}, None, 1)
@param("format", "string", "Format", False, {"enum": ["text", "markdown"]}, None, "text")
def weekly_digest(context, weeks: int = 1, format: str = "text"):
    recipient = context.get_config("digest_recipient")
    if not recipient:
        raise UserError("Set the app setting CONDUIT_CONFIG_DIGEST_RECIPIENT to the digest's recipient.")
    prefix = context.get_config("digest_subject_prefix", "[IT digest]")
    lines = [plural(3, "new hire"), plural(1, "leaver"), plural(12, "ticket")]
    body = bullet_list(lines) if format == "markdown" else "; ".join(lines)
    context.log("INFO", "Digest prepared", {"to": recipient, "weeks": weeks})
    return {"to": recipient, "subject": f"{prefix} {helpers.period_label(weeks)}", "body": body}
