"""The small columns of an execution record that supervision polls every second: status, attempt, lease, deadline,
ETag.

Polling reads select only these (a few hundred bytes), never the input or output, which may be spilled into other
rows: the supervisor of a running execution reads its record once a second for as long as it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.models import ExecutionStatus
from shared.storage.scalars import BY_ATTR, decode_scalars

_ATTRS = ("status", "attempt", "lease_owner", "lease_expires_at", "deadline_at")
LEASE_COLUMNS = [BY_ATTR[attr].prop for attr in _ATTRS]


@dataclass(frozen=True)
class LeaseState:
    """Who holds a record (which worker, for which attempt), until when, how long it may run at most, and the ETag
    to change it with."""

    status: ExecutionStatus
    attempt: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    deadline_at: datetime | None
    etag: str


def lease_from_entity(entity: Any) -> LeaseState:
    """The LeaseState of an entity read with `select=LEASE_COLUMNS` (or of a whole one)."""
    return LeaseState(**decode_scalars(entity, _ATTRS), etag=str(entity.metadata["etag"]))
