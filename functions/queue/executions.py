"""Queue: run queued executions. The record decides what a delivery means (see shared.worker)."""

import azure.functions as func

from shared.queueing import EXECUTIONS_QUEUE
from shared.worker import process_message

bp = func.Blueprint()


async def run_queued_execution(msg: func.QueueMessage) -> None:
    """Returning acknowledges the message; raising (storage trouble) lets the host retry it, then poison it."""
    await process_message(msg.get_body(), msg.dequeue_count or 1)


bp.queue_trigger(arg_name="msg", queue_name=EXECUTIONS_QUEUE, connection="AzureWebJobsStorage")(run_queued_execution)
