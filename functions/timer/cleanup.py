"""Timer: every 5 minutes, finish the executions nobody else will (see shared.executions.cleanup), purge the
data-provider cache's expired entries and stale leases (shared.providers.cache), and delete finished executions past
their organization's retention (shared.executions.retention).

`CONDUIT_CLEANUP_SCHEDULE` (an NCRONTAB expression, default every 5 minutes) is read when the app is indexed; chaos
runs and tests use a shorter one.
"""

import logging
import os

import azure.functions as func

from shared.executions.cleanup import clean_up
from shared.executions.retention import purge
from shared.providers.cache import purge_provider_cache
from shared.runtime import get_runtime

bp = func.Blueprint()
log = logging.getLogger("conduit.cleanup")

SCHEDULE = os.environ.get("CONDUIT_CLEANUP_SCHEDULE", "").strip() or "0 */5 * * * *"


async def clean_up_executions(timer: func.TimerRequest) -> None:
    runtime = await get_runtime()
    report = await clean_up(runtime)
    purged = await purge_provider_cache(runtime.engine)
    retained = await purge(runtime)  # finished executions past their organization's retention
    summaries = [part for part in (report.summary(), purged.summary(), retained.summary()) if part]
    if summaries:
        log.info("clean-up: %s", "; ".join(summaries))


bp.timer_trigger(arg_name="timer", schedule=SCHEDULE, run_on_startup=False)(clean_up_executions)
