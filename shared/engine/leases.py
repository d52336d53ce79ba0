"""Leases: how a running execution says "a live worker has me", so redelivery and clean-up know when to step in.

A worker holds a lease of `LEASE_SECONDS` on the record of each execution it runs and renews it while the execution
runs (from the supervisor's own thread, shared/engine/supervision.py), never past the execution's deadline. A lease that
has expired means its worker died: a redelivered message may take the execution over, and the clean-up timer may
finish it once its deadline (start + timeout + grace) has passed.
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


def lease_until(now: datetime, deadline: datetime | None = None) -> datetime:
    """A fresh lease taken at `now`; never past the execution's deadline, when given."""
    until = now + timedelta(seconds=LEASE_SECONDS)
    return until if deadline is None else min(until, deadline)


def renewed_lease(
    now: datetime, expires: datetime | None, deadline: datetime | None, lease_seconds: float = LEASE_SECONDS
) -> datetime | None:
    """Where a renewal at `now` moves the lease to, or None when it should not move.

    A lease is renewed once a third of it has passed (so two renewals may fail before it lapses), never past the
    execution's deadline, and not at all once the deadline has passed: an execution that will not stop must not
    keep its lease forever, or neither clean-up nor another host could ever finish it.
    """
    if deadline is not None and now >= deadline:
        return None
    until = now + timedelta(seconds=lease_seconds)
    if deadline is not None:
        until = min(until, deadline)
    if expires is not None and (until <= expires or expires - now > timedelta(seconds=lease_seconds * 2 / 3)):
        return None
    return until
