"""Escalate a ticket: queued (async), logs at several levels, records its progress as checkpoints."""

import rules
from bifrost import ExecutionContext, param, workflow
from modules import audit


@workflow(
    name="escalate_ticket",
    description="Escalate a ticket to the next tier",
    category="Tickets",
    tags=["psa"],
    execution_mode="async",
    timeout_seconds=120,
)
@param("ticket_ref", "string", "Ticket reference", True, {"pattern": r"^T-\d{4,}$"}, None, None,
       "As shown in the PSA, e.g. T-10234")
@param("tier", "string", "Escalate to", True, {"enum": ["tier2", "tier3", "manager"]})
@param("summary", "string", "Summary", False, {"max_length": 200}, None, "")
async def escalate_ticket(context: ExecutionContext, ticket_ref: str, tier: str, summary: str = ""):
    context.log("info", f"Escalating {ticket_ref}", {"tier": tier})
    priority = rules.priority_for(summary, "Escalations")
    context.save_checkpoint("priority_set", {"ticket": ticket_ref, "priority": priority})
    if tier == "manager":
        context.log("warning", "Escalated to a manager", {"ticket": ticket_ref})
    context.save_checkpoint("assigned", {"ticket": ticket_ref, "tier": tier})
    audit.record("ticket_escalated", ticket=ticket_ref)
    return {"ticket": ticket_ref, "tier": tier, "priority": priority}
