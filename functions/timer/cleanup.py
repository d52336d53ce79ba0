"""Timer: every 5 minutes, finish the executions nobody else will (see shared.executions.cleanup).

`CONDUIT_CLEANUP_SCHEDULE` (an NCRONTAB expression, default every 5 minutes) is read when the app is indexed; chaos
runs and tests use a shorter one.
"""

import logging
import os

import azure.functions as func

from shared.executions.cleanup import clean_up
from shared.runtime import get_runtime

bp = func.Blueprint()
log = logging.getLogger("conduit.cleanup")

SCHEDULE = os.environ.get("CONDUIT_CLEANUP_SCHEDULE", "").strip() or "0 */5 * * * *"


async def clean_up_executions(timer: func.TimerRequest) -> None:
    report = await clean_up(await get_runtime())
    if report.changed:
        log.info("clean-up: %s", report.summary())


bp.timer_trigger(arg_name="timer", schedule=SCHEDULE, run_on_startup=False)(clean_up_executions)
