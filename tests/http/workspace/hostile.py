"""Workflows for the hostile-input tests: they take anything and return what they are told to."""

from typing import Any

from shared import ExecutionContext, param, workflow


@workflow(name="echo_any", execution_mode="sync")
@param("payload", type="json")
async def echo_any(context: ExecutionContext, payload: Any = None) -> Any:
    return {"payload": payload}


@workflow(name="echo_async", execution_mode="async")
@param("payload", type="json")
async def echo_async(context: ExecutionContext, payload: Any = None) -> Any:
    return {"payload": payload}


@workflow(name="not_finite", execution_mode="sync")
@param("which", required=True)
async def not_finite(context: ExecutionContext, which: str) -> dict:
    value = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}[which]
    context.logger.info("returning %s", which)
    return {"ok": 1, "f": value}


@workflow(name="takes_float", execution_mode="sync")
@param("x", type="float", required=True)
async def takes_float(context: ExecutionContext, x: float) -> float:
    return x
