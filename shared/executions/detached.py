"""Sync runs that outlived their caller's wait: they go on to their terminal state, held here until they get there.

Azure's front end ends an HTTP response after 230 s, so a sync request waits at most CONDUIT_SYNC_WAIT_SECONDS
(`shared.executions.service`) and then answers 202 with the execution's status URL. The run itself is not stopped:
its task is kept here (the event loop holds only weak references to tasks, so an unreferenced one could be collected
mid-run), it still counts as in flight for recycling (the engine counts it), and `drain` gives it time to finish when
the runtime closes. A run cut off by the process ending is left Running with a lease nobody renews; recovery then
settles it (Failed, `HostDied`, or `Timeout` past its deadline).
"""

from __future__ import annotations

import asyncio
import logging

from shared.models import ExecutionResult

log = logging.getLogger("conduit.executions")

_runs: dict[asyncio.Task[ExecutionResult], str] = {}  # task -> execution id


def keep(task: asyncio.Task[ExecutionResult], execution_id: str) -> None:
    """Hold `task` (a run its caller stopped waiting for) until it ends."""
    _runs[task] = execution_id
    task.add_done_callback(_ended)


def running() -> list[str]:
    """The execution ids of the sync runs still going on after their caller was answered."""
    return [execution_id for task, execution_id in _runs.items() if not task.done()]


async def drain(timeout: float) -> bool:
    """Wait up to `timeout` seconds for this loop's runs; stop those still running then. True when none was cut."""
    loop = asyncio.get_running_loop()
    mine = [task for task in _runs if task.get_loop() is loop]
    if mine:
        await asyncio.wait(mine, timeout=timeout)
    left = [task for task in mine if not task.done()]
    if left:
        log.error("%d sync execution(s) answered 202 were still running at shutdown and are stopped; recovery "
                  "settles them once their lease expires: %s", len(left), ", ".join(_runs[t] for t in left))
        for task in left:
            task.cancel()
        await asyncio.wait(left, timeout=1.0)
    return not left


def _ended(task: asyncio.Task[ExecutionResult]) -> None:
    execution_id = _runs.pop(task, "?")
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:  # the engine raises only before user code runs; nobody is left to answer, so log it
        log.error("sync execution %s (answered 202) ended with an error: %s: %s", execution_id,
                  type(error).__name__, error)
    else:
        log.info("sync execution %s (answered 202) ended %s", execution_id, task.result().status.value)
