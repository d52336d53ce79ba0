"""Workflows of the last-write tests (tests/http/test_last_write.py): oversized steps and names, a run that a
test holds while it breaks storage, and a run that is taken over by a second attempt."""

import asyncio

from shared import ExecutionContext, param, workflow

held: list[str] = []  # ids of `held_run` executions that are running; a test releases them with `release`
release: list[bool] = []
runs: dict[str, int] = {}  # execution id -> how many times `taken_over` started for it


@workflow(name="big_step", execution_mode="sync")
@param("size", type="int", required=True)
async def big_step(context: ExecutionContext, size: int) -> dict:
    async with context.step("export", step_type="transform", input_data={"rows": 3}) as step:
        context.logger.info("exporting %d characters", size)
        step.output_data = {"csv": "x" * size}
    return {"exported": size}


@workflow(name="long_names", execution_mode="sync")
async def long_names(context: ExecutionContext) -> str:
    async with context.step("s" * 5_000, step_type="t" * 3_000, input_data={"k" * 2_000: "v" * 300_000}):
        context.logger.warning("m" * 300_000)
        context.logger.info("an ordinary line")
    return "done"


@workflow(name="held_run", execution_mode="sync")
async def held_run(context: ExecutionContext) -> dict:
    context.logger.info("holding")
    held.append(context.execution_id)
    while not release:
        await asyncio.sleep(0.05)
    return {"released": True}


@workflow(name="taken_over", execution_mode="async")
@param("lines", type="int", required=True)
async def taken_over(context: ExecutionContext, lines: int) -> dict:
    run = runs[context.execution_id] = runs.get(context.execution_id, 0) + 1
    async with context.step(f"run {run}", step_type="task") as step:
        for i in range(lines if run == 1 else 2):
            context.logger.info("run %d line %d", run, i)
        step.output_data = {"run": run}
    if run == 1:
        await asyncio.sleep(60)  # the first host "dies" here: the test cancels this run and takes it over
    return {"run": run}
