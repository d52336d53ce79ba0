"""Leases: how a running execution says "a live worker has me", so redelivery and clean-up know when to step in.

A worker holds a lease of `LEASE_SECONDS` on the record of each execution it runs and renews it while the execution
runs. A lease that has expired means its worker died: a redelivered message may take the execution over, and the
clean-up timer may finish it once its deadline (start + timeout + grace) has passed.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

LEASE_SECONDS = int(os.environ.get("CONDUIT_LEASE_SECONDS", "30"))
GRACE_SECONDS = int(os.environ.get("CONDUIT_DEADLINE_GRACE_SECONDS", "60"))
CANCEL_POLL_SECONDS = float(os.environ.get("CONDUIT_CANCEL_POLL_SECONDS", "1.0"))
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def deadline_for(started: datetime, timeout_seconds: int | float | None) -> datetime | None:
    """When an execution started at `started` is overdue even allowing for a slow finish."""
    if timeout_seconds is None:
        return None
    return started + timedelta(seconds=float(timeout_seconds) + GRACE_SECONDS)


def lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=LEASE_SECONDS)
