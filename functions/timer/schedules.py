"""Timer: every minute, fire the due slots of `@workflow(schedule=...)` workflows (see shared.schedules.ticker).

Every instance may run it (Azure runs a timer on one instance at a time, devhosts claim each slot, and a retried or
overlapping run is harmless): a slot's execution id is derived from the slot, so it runs once whoever fires it.
`CONDUIT_SCHEDULER_SCHEDULE` (an NCRONTAB expression, default every minute) is read when the app is indexed; tests
use a shorter one.
"""

import logging
import os

import azure.functions as func

from shared.runtime import get_runtime, get_schedules
from shared.schedules.ticker import tick

bp = func.Blueprint()
log = logging.getLogger("conduit.schedules")

SCHEDULE = os.environ.get("CONDUIT_SCHEDULER_SCHEDULE", "").strip() or "0 * * * * *"


async def fire_schedules(timer: func.TimerRequest) -> None:
    report = await tick(await get_runtime(), await get_schedules())
    if report.active:
        log.info("schedules: %s", report.summary())


bp.timer_trigger(arg_name="timer", schedule=SCHEDULE, run_on_startup=False)(fire_schedules)
