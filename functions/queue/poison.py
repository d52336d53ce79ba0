"""Queue: a message the host gave up on marks its execution Failed (PoisonMessage), unless it already finished."""

import azure.functions as func

from shared.poison import fail_poisoned
from shared.queueing import POISON_QUEUE

bp = func.Blueprint()


async def handle_poisoned_execution(msg: func.QueueMessage) -> None:
    await fail_poisoned(msg.get_body())


bp.queue_trigger(arg_name="msg", queue_name=POISON_QUEUE, connection="AzureWebJobsStorage")(handle_poisoned_execution)
