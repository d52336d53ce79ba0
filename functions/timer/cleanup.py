"""Timer: every 5 minutes, finish the executions nobody else will (see shared.cleanup)."""

import logging

import azure.functions as func

from shared.cleanup import clean_up

bp = func.Blueprint()
log = logging.getLogger("conduit.cleanup")


async def clean_up_executions(timer: func.TimerRequest) -> None:
    report = await clean_up()
    if report.changed:
        log.info("clean-up: %s", report.summary())


bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False)(clean_up_executions)
