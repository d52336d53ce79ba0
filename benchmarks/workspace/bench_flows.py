"""Workflows for benchmarks/devhost_throughput.py (this folder is its CONDUIT_WORKSPACE)."""

from shared import ExecutionContext, workflow


@workflow(name="noop", description="A sync no-op: what one persisted execution costs.", endpoint_enabled=True)
def noop(context: ExecutionContext) -> None:
    return None
