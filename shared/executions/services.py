"""What the execution services work with: handed to them, never looked up from inside.

A trigger gets its process's services (`shared.runtime.get_runtime`, which is a `Services`) and passes it in; tests
and benchmarks pass their own. Keeping the lookup out of business modules keeps them testable and import-cycle-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.engine.core import Engine
from shared.executions.watch import ExecutionWatcher
from shared.functions.registry import FunctionRegistry
from shared.storage.executions import ExecutionStore
from shared.storage.queues import ExecutionQueue


@dataclass
class Services:
    """The registry of functions, the execution store and queue, the engine that runs on them, and the watcher
    that long polls wait on (built on the store unless given)."""

    registry: FunctionRegistry
    store: ExecutionStore
    engine: Engine
    queue: ExecutionQueue
    watcher: ExecutionWatcher = field(default=None, repr=False)  # type: ignore[assignment]  # set below

    def __post_init__(self) -> None:
        if self.watcher is None:
            self.watcher = ExecutionWatcher(self.store)
        if getattr(self.engine, "queue", "n/a") is None:  # a Waiting execution's wake-up goes to this queue
            self.engine.queue = self.queue
