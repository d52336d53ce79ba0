"""Functions of the access-matrix tests (tests/identity/test_access_matrix.py): a workflow that stores DEBUG lines,
a cached data provider whose options name the scope they were computed for, and a scheduled workflow (the
schedules routes)."""

from shared import ExecutionContext, data_provider, workflow


@workflow(name="matrix_debug", execution_mode="sync", log_level="DEBUG")
async def matrix_debug(context: ExecutionContext, note: str = "n") -> dict:
    context.logger.debug("internal detail %s", note)
    context.logger.info("visible line %s", note)
    return {"note": note}


@data_provider(name="matrix_scoped", cache_ttl_seconds=300)
async def matrix_scoped(context: ExecutionContext) -> list[dict]:
    return [{"label": f"computed for {context.scope}", "value": context.scope}]


@workflow(name="matrix_scheduled", schedule="0 3 1 1 *")  # 1 January 03:00 UTC: never fires during a test run
async def matrix_scheduled(context: ExecutionContext) -> dict:
    return {"ran": True}
