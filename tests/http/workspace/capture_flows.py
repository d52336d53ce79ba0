"""Workflows the log-capture tests run: one that waits for its lines to be flushed, one that logs DEBUG lines."""

import asyncio
import logging

from shared import ExecutionContext, param, workflow
from shared.capture.log_capture import current_capture


@workflow(name="logs_while_flushed", execution_mode="async")
@param("lines", type="int", required=True)
async def logs_while_flushed(context: ExecutionContext, lines: int) -> dict:
    """Logs `lines` lines, waits (up to 10 s) until the supervisor has flushed them, logs one more."""
    capture = current_capture()
    assert capture is not None
    for i in range(lines):
        context.logger.info("before %d", i)
    held_before = capture.held
    for _ in range(100):
        if capture.flushed >= lines:
            break
        await asyncio.sleep(0.1)
    flushed, held_after = capture.flushed, capture.held
    context.logger.info("after the flush")
    return {"held_before": held_before, "flushed": flushed, "held_after": held_after}


@workflow(name="debug_lines", execution_mode="sync")
async def debug_lines(context: ExecutionContext) -> None:
    context.logger.debug("debug line")
    logging.getLogger("azure.core.pipeline").debug("Authorization: Bearer secret")
    logging.getLogger("urllib3.connectionpool").debug("GET /blob?sig=secret")
    context.logger.info("info line")
