"""Reading executions on behalf of a caller; scope rules live here and nowhere else.

A caller sees only executions of its own scope; anything else is answered as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from shared.errors import ExecutionNotFoundError
from shared.models import Caller, ExecutionRecord, ExecutionResult, LogLine
from shared.runtime import get_runtime


async def get_execution(caller: Caller, execution_id: str) -> ExecutionRecord:
    """The execution with this id in the caller's scope, or `ExecutionNotFoundError`."""
    runtime = await get_runtime()
    record = await runtime.store.get(caller.scope, execution_id)
    if record is None:
        raise ExecutionNotFoundError(execution_id)
    return record


async def get_execution_logs(caller: Caller, execution_id: str) -> list[LogLine]:
    """The log lines of a visible execution, in order."""
    await get_execution(caller, execution_id)
    runtime = await get_runtime()
    return await runtime.store.get_logs(execution_id)


def result_to_api(result: ExecutionResult) -> dict[str, Any]:
    """The body of a synchronous execute call."""
    body: dict[str, Any] = {
        "execution_id": result.execution_id,
        "status": result.status.value,
        "output_data": result.result,
        "error_message": result.error_message,
        "error_type": result.error_type,
        "duration_ms": result.duration_ms,
        "logs": [line.to_dict() for line in result.logs],
    }
    if result.variables is not None:
        body["variables"] = result.variables
    return body
