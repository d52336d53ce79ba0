"""Timer: every 15 seconds, take over or finish the executions whose host died (see shared.executions.recovery).

`CONDUIT_RECOVERY_SCHEDULE` (an NCRONTAB expression, default every 15 s) is read when the app is indexed; tests use a
shorter one. Each pass is one range read per scope, so a frequent schedule is cheap.
"""

import logging
import os

import azure.functions as func

from shared.executions.recovery import recover
from shared.runtime import get_runtime

bp = func.Blueprint()
log = logging.getLogger("conduit.recovery")

SCHEDULE = os.environ.get("CONDUIT_RECOVERY_SCHEDULE", "").strip() or "*/15 * * * * *"


async def recover_executions(timer: func.TimerRequest) -> None:
    report = await recover(await get_runtime())
    if report.changed:
        log.info("recovery: %s", report.summary())


bp.timer_trigger(arg_name="timer", schedule=SCHEDULE, run_on_startup=False)(recover_executions)
