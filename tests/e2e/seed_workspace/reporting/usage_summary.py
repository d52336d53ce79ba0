"""Mailbox usage against a quota; over-quota mailboxes are logged as errors, the run still succeeds."""

from bifrost import ExecutionContext, param, workflow


@workflow(category="Reporting", tags=["exchange"])
@param("mailboxes", "list", "Mailboxes", True, {"min_length": 1, "max_length": 10})
@param("quota_gb", "float", "Quota (GB)", False, {"min": 0.5, "max": 100.0}, None, 50.0)
async def usage_summary(context: ExecutionContext, mailboxes: list, quota_gb: float = 50.0):
    usage = {mailbox: round(len(mailbox) * 2.5, 1) for mailbox in mailboxes}
    over = sorted(mailbox for mailbox, used in usage.items() if used > quota_gb)
    context.debug("Usage per mailbox", usage)  # stored only when DEBUG is asked for
    if over:
        context.error("Mailboxes over quota", {"mailboxes": over, "quota_gb": quota_gb})
    context.save_checkpoint("usage_measured", {"mailboxes": len(usage), "over_quota": len(over)})
    return {"usage_gb": usage, "over_quota": over}
