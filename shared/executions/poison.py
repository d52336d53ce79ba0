"""Poisoned execution messages: the host moved them aside after too many failed deliveries, or the worker forwarded
them at once because they are not execution references (those are logged once, with the reason, and dropped)."""

from __future__ import annotations

import logging

from shared.errors import BadMessageError, ConflictError
from shared.executions.services import Services
from shared.executions.worker import HOST_DIED, host_died_reason
from shared.models import ExecutionStatus, utc_now
from shared.storage.queues import POISON_QUEUE, ExecutionMessage

log = logging.getLogger("conduit.poison")


async def fail_poisoned(services: Services, body: bytes | str) -> ExecutionStatus | None:
    """Mark the execution Failed with error_type PoisonMessage, unless it is already terminal."""
    try:
        message = ExecutionMessage.decode(body)
    except BadMessageError as error:
        # The one line for an unreadable message, wherever it came from (the worker or the host forwarded it).
        log.error("Dropped an unreadable message from %s: %s", POISON_QUEUE, error.message)
        return None
    record = await services.store.get(message.scope, message.execution_id)
    if record is None or record.status.is_terminal:
        return record.status if record else None
    now = utc_now()
    reason, error_type = (
        f"Its queue message was moved to {POISON_QUEUE} after repeated failed deliveries; "
        f"the execution was {record.status.value} at the time.",
        "PoisonMessage",
    )
    if record.status is ExecutionStatus.RUNNING and not record.lease_alive(now):
        # Deliveries failed because the host died each time it ran the execution (os._exit, out of memory).
        reason, error_type = f"{host_died_reason(record)} {reason}", HOST_DIED
    try:
        await services.store.finish(record.finished(ExecutionStatus.FAILED, reason, error_type, now), logs=[], steps=[])
    except ConflictError:
        fresh = await services.store.get(message.scope, message.execution_id)
        return fresh.status if fresh else None
    return ExecutionStatus.FAILED
