"""Nightly clean-up of stale tickets: a bare @workflow on plain (sync) code."""

import time

from bifrost import workflow


@workflow
def close_stale_tickets(context, older_than_days: int = 30):
    """Close tickets nobody touched for a while."""
    stale = [f"T-{1000 + day}" for day in range(3)]
    time.sleep(0.05)  # blocking code is fine here: plain functions run in a worker thread
    for ticket in stale:
        context.log("debug", f"closing {ticket}")
    context.log("warning", "Closed stale tickets", {"count": len(stale), "older_than_days": older_than_days})
    return {"closed": stale}
