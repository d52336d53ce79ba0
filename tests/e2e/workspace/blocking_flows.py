"""Workflows that misbehave on the event loop, for the supervision end-to-end tests."""

import time

from shared import ExecutionContext, param, workflow


@workflow(name="blocks_loop", description="Blocks the event loop with time.sleep.", execution_mode="async",
          timeout_seconds=120)
@param("seconds", type="float", required=True)
async def blocks_loop(context: ExecutionContext, seconds: float) -> dict[str, float]:
    context.logger.info("blocking the loop for %.0fs", seconds)
    time.sleep(seconds)  # the mistake under test: a blocking call in async code
    context.logger.info("unblocked")
    return {"blocked": seconds}
