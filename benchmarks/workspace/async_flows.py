"""The workflow benchmarks/async_throughput.py queues: the cheapest async execution."""

from shared import ExecutionContext, workflow


@workflow(name="noop_async", description="Does nothing, queued.", execution_mode="async")
async def noop_async(context: ExecutionContext) -> None:
    return None
