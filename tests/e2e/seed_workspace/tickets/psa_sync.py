"""Pull the PSA board: where and with which key come from the seed SDK's config and secrets (stored per organization
with PUT /api/config)."""

from bifrost import config, context, secrets, workflow


@workflow(category="Tickets", tags=["psa"])
async def sync_psa_board(board: str = "Service Desk"):
    """Pull the open tickets of a PSA board."""
    url = await config.get("psa_url")
    api_key = await secrets.get("psa_api_key")
    page_size = await config.get("psa_page_size", default=50)
    if not url or api_key is None:
        context.error("PSA is not configured", {"url": url, "has_key": api_key is not None})
        return {"success": False}
    context.info("Pulling board", {"board": board, "url": url, "authorization": f"Bearer {api_key}"})
    return {"board": board, "url": f"{url}/boards?page_size={page_size}", "key_tail": api_key[-4:]}
