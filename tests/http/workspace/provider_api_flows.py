"""Data providers for the data-provider API tests: one with typed inputs, one that is also a workflow."""

from shared import data_provider, param, workflow


@data_provider(name="api_sizes", description="Shirt sizes, optionally only those up to a limit",
               category="Apparel", cache_ttl_seconds=0)
@param("limit", type="int", required=True, validation={"min": 1, "max": 5})
@param("unit", type="string", validation={"enum": ["eu", "us"]})
def api_sizes(limit: int, unit: str = "eu") -> list[dict]:
    sizes = ["XS", "S", "M", "L", "XL"][:limit]
    return [{"label": f"{size} ({unit})", "value": size, "description": None, "rank": rank}
            for rank, size in enumerate(sizes)]


@workflow(name="api_both", execution_mode="sync")
@data_provider(name="api_both", cache_ttl_seconds=0, timeout_seconds=7)
def api_both(prefix: str = "x") -> list[dict]:
    """Both a workflow and a data provider: the same function answers either way."""
    return [{"label": f"{prefix}-1", "value": 1}]
