"""Retention: the clean-up timer deletes finished executions older than their organization keeps them.

`CONDUIT_RETENTION_DAYS` (default 30; 0 keeps everything) is the default; an organization may set its own
(`retention_days`, through `PATCH /api/organizations/{id}`). Each pass, per scope: one range read of the finished
executions created before the cutoff — ids sort by creation time, so the read starts at the cutoff's bound and never
touches a newer (live) row — at most CONDUIT_RETENTION_BATCH (default 200) of them, each deleted with its details
rows (log pages, steps, spilled values, events) first and its record last; then the scope's idempotency-key rows older
than the cutoff (a key names an execution for 24 hours only). A scope with more to delete is continued next pass.
`DELETE /api/workflows/executions/{id}` (admins) deletes one finished execution the same way.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.errors import ConflictError
from shared.executions.queries import get_execution
from shared.executions.services import Services
from shared.identity import policy
from shared.models import Caller, utc_now

log = logging.getLogger("conduit.retention")

DAYS_SETTING = "CONDUIT_RETENTION_DAYS"
BATCH_SETTING = "CONDUIT_RETENTION_BATCH"
DEFAULT_DAYS = 30.0
DEFAULT_BATCH = 200
KEY_WINDOW = timedelta(hours=24)  # how long an idempotency key names its execution (shared.storage.idempotency)


@dataclass
class PurgeReport:
    deleted: list[str] = field(default_factory=list)
    keys: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.deleted)} executions deleted"] if self.deleted else []
        parts += [f"{self.keys} idempotency keys deleted"] if self.keys else []
        parts += [f"{len(self.errors)} errors"] if self.errors else []
        return ", ".join(parts)


def _number(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, "") or default))
    except ValueError:
        return default


def default_days() -> float:
    return _number(DAYS_SETTING, DEFAULT_DAYS)


async def purge(services: Services, now: datetime | None = None, days_of: dict[str, float | None] | None = None,
                scopes: list[str] | None = None) -> PurgeReport:
    """One pass over every scope (or `scopes`; see the module docstring). `days_of` maps a scope to its own
    retention (default: each organization's `retention_days`)."""
    now = now or utc_now()
    report = PurgeReport()
    batch = int(_number(BATCH_SETTING, DEFAULT_BATCH)) or DEFAULT_BATCH
    own = days_of if days_of is not None else await organization_retention(services)
    for scope in scopes if scopes is not None else await services.store.scopes():
        days = own.get(scope) if own.get(scope) is not None else default_days()
        try:
            # An idempotency key names its execution for 24 hours, whatever the retention: then it is dead weight.
            report.keys += await services.store.delete_stale_keys(scope, now - KEY_WINDOW)
            if not days:
                continue  # executions kept forever
            cutoff = now - timedelta(days=float(days))  # type: ignore[arg-type]
            needed = await services.store.resumed_sources(scope)  # a live from_failed rerun reads these
            for record in await services.store.finished_before(scope, cutoff, batch):
                if record.id not in needed:
                    await services.store.delete_execution(record)
                    report.deleted.append(record.id)
        except Exception:  # one scope must not stop the pass for the others
            log.exception("retention: could not purge scope %r; it is tried again next pass", scope)
            report.errors.append(scope)
    return report


async def organization_retention(services: Services) -> dict[str, float | None]:
    """Each organization's own `retention_days` (None: the default), when the runtime knows organizations."""
    authenticator = getattr(services, "authenticator", None)
    organizations = getattr(authenticator, "organizations", None)
    if organizations is None:
        return {}
    return {org.id: org.retention_days for org in await organizations.list()}


async def delete_execution(services: Services, caller: Caller, execution_id: str) -> None:
    """`DELETE /api/workflows/executions/{id}`: an admin of its scope deletes a finished execution (409 while it
    runs or waits; 404 when the caller cannot see it)."""
    policy.require_admin(caller, "delete executions")
    record = await get_execution(services, caller, execution_id)
    if record.status.is_terminal and record.id in await services.store.resumed_sources(record.scope):
        raise ConflictError(f"Execution '{record.id}' is resumed by a from_failed rerun that has not finished; "
                            "delete it once that rerun has.", details={"status": record.status.value})
    await services.store.delete_execution(record)  # ConflictError (409) when it has not finished
