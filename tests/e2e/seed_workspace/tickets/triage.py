"""The PSA's new-ticket webhook: it sends more fields than the workflow declares, so it takes **kwargs."""

import rules
from bifrost import param, workflow


@workflow(
    name="triage_ticket",
    description="Set a new ticket's priority (PSA webhook)",
    category="Tickets",
    tags=["psa", "webhook"],
    execution_mode="sync",
)
@param("ticket_id", "int", "Ticket", True, {"min": 1})
@param("summary", "string", "Summary", True, {"min_length": 3, "max_length": 200})
async def triage_ticket(context, ticket_id: int, summary: str, **kwargs):
    priority = rules.priority_for(summary, kwargs.get("board"))
    context.info("Ticket triaged", {"ticket": ticket_id, "priority": priority, "extra_fields": sorted(kwargs)})
    return {"ticket_id": ticket_id, "priority": priority, "webhook_fields": kwargs}
