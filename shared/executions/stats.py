"""`GET /api/workflows/{name}/stats?since=`: counts by status and duration percentiles over a bounded window.

One range read of the scope's partition, newest first, two columns per row (shared.storage.executions `outcomes`):
the workflow (and, for a user who is no admin, the caller) filtered by the service, the window bounded by the ids'
creation time. At most MAX_ROWS executions are counted; when a window holds more, the answer says so (`truncated`)
and covers the newest MAX_ROWS — never a silently partial count.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from shared.errors import FieldError, InputValidationError, WorkflowNotFoundError
from shared.executions.services import Services
from shared.identity import policy
from shared.models import Caller, ExecutionStatus, iso, utc_now

MAX_ROWS = 10_000
MAX_WINDOW = timedelta(days=31)
DEFAULT_WINDOW = timedelta(hours=24)


async def workflow_stats(services: Services, caller: Caller, name: str, since: datetime | None) -> dict[str, Any]:
    """The workflow's executions created since `since` (default: the last 24 hours; at most 31 days back)."""
    if not policy.may_list_function(caller, name):
        raise WorkflowNotFoundError(name)
    now = utc_now()
    start = since or now - DEFAULT_WINDOW
    if start < now - MAX_WINDOW:
        raise InputValidationError([FieldError("since", f"must be within the last {MAX_WINDOW.days} days")],
                                   "Invalid query parameters")
    rows = await services.store.outcomes(caller.scope, name, since=start,
                                         caller_id=policy.execution_owner_filter(caller), limit=MAX_ROWS + 1)
    truncated = len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS]
    counts = Counter(status for status, _ in rows)
    finished = sorted(d for status, d in rows if d is not None and ExecutionStatus(status).is_terminal)
    return {
        "workflow_id": name,
        "since": iso(start),
        "until": iso(now),
        "total": len(rows),
        "truncated": truncated,
        "by_status": {status.value: counts.get(status.value, 0) for status in ExecutionStatus},
        "duration_ms": {"count": len(finished), "p50": percentile(finished, 50), "p95": percentile(finished, 95),
                        "max": finished[-1] if finished else None},
    }


def percentile(ordered: list[int], pct: float) -> int | None:
    """The nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]
