"""Storage faults for every host at once, through the foundation's fault seam.

Each host gets `CONDUIT_STORAGE_FAULTS=@<rules file>`; the seam re-reads the file when it changes, so rewriting it
switches faults on and off in running hosts. A window is one to three rules on Conduit's own tables and queue
(never on the chaos workflows' side-effect table). The file is replaced atomically so that a host never reads half
of it.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Rule = dict[str, Any]

OPERATIONS = (
    "table.ConduitExecutions.merge",  # claim, lease renewal, finish, cancel
    "table.ConduitExecutions.get",
    "table.ConduitExecutions.create",
    "table.ConduitExecutions.query",
    "table.ConduitExecutionDetails.*",  # log flushes, steps, spilled values
    "table.ConduitExecutions.batch",  # an async submit with an idempotency key (key row + record)
    "queue.workflow-executions.send",
    "queue.workflow-executions.receive",
    "queue.workflow-executions.delete",
    "queue.workflow-executions.update",
)
KINDS = ("error", "latency", "timeout", "drop", "lost_response")


def random_rule(rng: random.Random) -> Rule:
    """One rule: a kind of fault on one operation, for a share of its requests."""
    kind = rng.choice(KINDS)
    rule: Rule = {"match": rng.choice(OPERATIONS), "fault": kind, "probability": round(rng.uniform(0.1, 0.6), 2)}
    if kind == "error":
        rule["status"] = rng.choice((500, 503, 503))
    elif kind == "latency":
        rule["latency_ms"] = rng.randint(200, 3_000)
    elif kind == "timeout":
        rule["latency_ms"] = rng.randint(500, 4_000)
    return rule


@dataclass
class FaultFile:
    """The rules file all hosts read, and how many rules of each kind were switched on over the run."""

    path: Path
    switched_on: Counter[str] = field(default_factory=Counter)
    windows: int = 0

    def __post_init__(self) -> None:
        self.write([])

    def write(self, rules: list[Rule]) -> None:
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(rules, indent=1))
        os.replace(partial, self.path)

    def open_window(self, rng: random.Random) -> list[Rule]:
        rules = [random_rule(rng) for _ in range(rng.randint(1, 3))]
        self.write(rules)
        self.windows += 1
        self.switched_on.update(rule["fault"] for rule in rules)
        return rules

    def clear(self) -> None:
        self.write([])

    @property
    def setting(self) -> str:
        return f"@{self.path}"
