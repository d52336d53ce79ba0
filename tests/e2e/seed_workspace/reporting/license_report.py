"""License usage for the caller's organization, in the newer seed style: no context parameter."""

import logging

import helpers
from bifrost import context, workflow

logger = logging.getLogger(__name__)


@workflow
async def license_report() -> dict:
    """Count assigned licenses per SKU for the organization the report runs for."""
    counts = helpers.license_counts(context.org_id)
    logger.info("Counted %d SKUs", len(counts))
    context.info("License report ready", {"skus": sorted(counts)})
    return {"organization": context.org_id, "counts": counts, "total": sum(counts.values())}
