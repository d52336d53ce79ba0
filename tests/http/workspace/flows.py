"""Workflows the HTTP tests run through the real discovery, engine and storage."""

import asyncio
import logging
import threading

import helpers

from shared import ExecutionContext, UserError, param, workflow


@workflow(name="shout", endpoint_enabled=True)
@param("text", required=True)
async def shout(context: ExecutionContext, text: str) -> dict:
    context.logger.info("shouting %s", text)
    return {"shouted": helpers.shout(text)}


@workflow(name="refuse", execution_mode="sync")
@param("reason")
async def refuse(context: ExecutionContext, reason: str = "no") -> None:
    raise UserError(f"Refused: {reason}")


@workflow(name="big_result", execution_mode="sync")
@param("size", type="int", required=True)
async def big_result(context: ExecutionContext, size: int) -> dict:
    pattern = "0123456789abcdefé"  # includes a non-ASCII character
    return {"blob": (pattern * (size // len(pattern) + 1))[:size]}


@workflow(name="many_logs", execution_mode="sync")
@param("lines", type="int", required=True)
async def many_logs(context: ExecutionContext, lines: int) -> int:
    for i in range(lines):
        context.logger.info("line %05d", i)
        if i % 500 == 499:
            await asyncio.sleep(0)  # a good async citizen: 10,000 lines at once would block the loop for seconds on a
            # busy machine, and the loop watchdog would rightly add its warning line to this execution's logs
    return lines


@workflow(name="noisy", execution_mode="sync")
@param("marker", required=True)
async def noisy(context: ExecutionContext, marker: str) -> str:
    def from_thread() -> None:
        for i in range(100):
            logging.getLogger("worker.thread").info("%s thread %d", marker, i)

    thread = threading.Thread(target=from_thread)
    thread.start()
    for i in range(100):
        logging.getLogger("some.library").info("%s logging %d", marker, i)
        print(f"{marker} print {i}")
        if i % 10 == 0:
            await asyncio.sleep(0)
    await asyncio.to_thread(thread.join)
    return marker


@workflow(name="later", execution_mode="async")
@param("value", required=True)
async def later(context: ExecutionContext, value: str) -> dict:
    context.logger.info("queued run with %s", value)
    return {"value": value, "attempt_scope": context.scope}


@workflow(name="too_slow", execution_mode="async", timeout_seconds=1)
async def too_slow(context: ExecutionContext) -> None:
    context.logger.info("starting something long")
    await asyncio.sleep(30)


@workflow(name="listed", execution_mode="async")
@param("n", type="int")
async def listed(context: ExecutionContext, n: int = 0) -> int:
    return n


@workflow(name="stepper", execution_mode="async")
@param("url", required=True)
async def stepper(context: ExecutionContext, url: str) -> dict:
    async with context.step("prepare", step_type="transform", input_data={"url": url}) as step:
        context.logger.info("preparing the call")
        step.output_data = {"ready": True}
    async with context.step("call service", step_type="api"):
        response = await context.http.get(url, params={"token": "secret"})
        context.logger.warning("service answered %s", response.status_code)
    context.logger.error("an error line outside any step")
    return {"status": response.status_code}


@workflow(name="tail_me", execution_mode="async")
async def tail_me(context: ExecutionContext, seconds: float = 2.5) -> None:
    context.logger.info("first")
    await asyncio.sleep(seconds)
    context.logger.info("second")
