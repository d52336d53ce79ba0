"""Workflows of tests/http/test_schedules.py: one scheduled in a time zone with every option set, one with every
default, and one without a schedule. The host that serves them has its scheduler timer off, so only the tests' own
calls (trigger, pause, resume) touch their schedules."""

from shared import ExecutionContext, workflow


@workflow(name="amsterdam_report", schedule="0 9 * * *", schedule_timezone="Europe/Amsterdam",
          schedule_inputs={"region": "eu"}, catch_up="all", max_catch_up=3, grace_seconds=300, overlap="allow")
async def amsterdam_report(context: ExecutionContext, region: str, days: int = 1) -> dict:
    return {"region": region, "days": days, "trigger": context.trigger.get("kind")}


@workflow(name="weekday_cleanup", schedule="30 2 * * 1-5")
async def weekday_cleanup(context: ExecutionContext) -> str:
    return "clean"


@workflow(name="unscheduled_flow")
async def unscheduled_flow(context: ExecutionContext) -> str:
    return "by hand only"
