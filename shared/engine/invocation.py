"""One execution on its way through the engine's pipeline, and the shape of a pipeline step.

Every layer (shared/engine/layers.py, deadline.py, persistence.py, supervision.py) takes and passes an
`Invocation`; it lives here, below all of them, so that no layer imports the engine that composes them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.engine.deadline import CANCEL, Deadline
from shared.models import ExecutionRecord, ExecutionRequest, ExecutionResult

if TYPE_CHECKING:
    from shared.capture.log_capture import LogCapture
    from shared.engine.context import ExecutionContext
    from shared.engine.scripts import Script
    from shared.engine.threads import ThreadCall
    from shared.functions.registry import FunctionMetadata


@dataclass
class Invocation:
    """One execution on its way through the pipeline."""

    request: ExecutionRequest
    context: ExecutionContext
    capture: LogCapture
    timeout_seconds: float
    function_name: str
    metadata: FunctionMetadata | None = None
    script: Script | None = None
    arguments: dict[str, Any] | None = None
    script_namespace: dict[str, Any] | None = None
    started_at: Any = None
    started_clock: float = 0.0
    record: ExecutionRecord | None = None
    cancel_requested: bool = False
    deadline: Deadline | None = None
    thread_call: ThreadCall | None = None
    error: BaseException | None = None  # what the user code raised, for a retry policy (shared.engine.retries)
    events_seen: dict[str, int] | None = None  # a paused DAG's known deliveries per awaited event (durable.py)

    def request_cancel(self) -> None:
        """Stop this execution: it ends `Cancelled` now, whether its code cooperates or not.

        Call it on the event loop's thread; from another thread use `loop.call_soon_threadsafe(inv.request_cancel)`.
        """
        self.cancel_requested = True
        if self.deadline is not None:
            self.deadline.fire(CANCEL)


Pipeline = Callable[[Invocation], Awaitable[ExecutionResult]]
