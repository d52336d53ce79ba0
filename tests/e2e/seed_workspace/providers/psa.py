"""PSA boards for ticket forms, in the newer seed style: no context parameter."""

from bifrost import context, data_provider


@data_provider(category="Tickets", tags=["psa"])
async def ticket_boards():
    boards = ["Service Desk", "Projects"] if context.org_id else ["Service Desk"]
    return [{"label": board, "value": board} for board in boards]
