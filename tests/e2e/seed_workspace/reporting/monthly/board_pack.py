"""Two folders deep: the monthly board pack, built from shared modules only."""

from bifrost import ExecutionContext, workflow
from modules.formatting import bullet_list, plural


@workflow()
async def board_pack(context: ExecutionContext, month: str = "2024-01"):
    """Assemble the monthly board pack."""
    sections = ["Service desk", "Security", "Projects"]
    context.info(f"Board pack for {month}", {"sections": len(sections)})
    return {"month": month, "summary": plural(len(sections), "section"), "outline": bullet_list(sections)}
