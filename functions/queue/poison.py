"""Queue: a message the host gave up on marks its execution Failed (PoisonMessage), unless it already finished."""

import azure.functions as func

from shared.executions.poison import fail_poisoned
from shared.runtime import get_runtime
from shared.storage.queues import POISON_QUEUE

bp = func.Blueprint()


async def handle_poisoned_execution(msg: func.QueueMessage) -> None:
    await fail_poisoned(await get_runtime(), msg.get_body())


bp.queue_trigger(arg_name="msg", queue_name=POISON_QUEUE, connection="AzureWebJobsStorage")(handle_poisoned_execution)
