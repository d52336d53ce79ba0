"""Queue: run queued executions. The record decides what a delivery means (see shared.executions.worker)."""

import azure.functions as func

from shared.executions.worker import process_message
from shared.runtime import get_runtime
from shared.storage.queues import EXECUTIONS_QUEUE

bp = func.Blueprint()


async def run_queued_execution(msg: func.QueueMessage) -> None:
    """Returning acknowledges the message; raising (storage trouble) lets the host retry it, then poison it."""
    await process_message(await get_runtime(), msg.get_body(), msg.dequeue_count or 1)


bp.queue_trigger(arg_name="msg", queue_name=EXECUTIONS_QUEUE, connection="AzureWebJobsStorage")(run_queued_execution)
