"""Loops: a nested `body` graph run once per item (`loop_foreach`) or while a condition holds (`loop_while`)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from pydantic import Field

from shared.dag.definition import DagGraph
from shared.dag.nodes.base import GraphParked, NodeConfig, NodeHandler, register

MAX_FOREACH_CONCURRENCY = 100
MAX_WHILE_ITERATIONS = 10_000


class ForeachConfig(NodeConfig):
    items: Any  # a template giving a list, or a list whose strings are templates
    body: DagGraph
    max_concurrency: int = Field(default=10, ge=1, le=MAX_FOREACH_CONCURRENCY)


@register
class LoopForeach(NodeHandler):
    type_name = "loop_foreach"
    description = ("Runs `body` once per item of `items` (`item` and `index` in its templates), at most "
                   "`max_concurrency` at a time; output is the body outputs in item order.")
    Config = ForeachConfig
    template_fields = ("items",)
    body_field = "body"

    async def run(self, run: Any, config: ForeachConfig) -> list[Any]:
        items = config.items
        if not isinstance(items, list):
            raise TypeError(f"`items` must give a list, got {type(items).__name__}")
        gate = asyncio.Semaphore(config.max_concurrency)

        async def one(index: int, item: Any) -> Any:
            async with gate:
                return await run.run_body(config.body, index, {"item": item, "index": index})

        return await all_or_first_error([one(index, item) for index, item in enumerate(items)])


class WhileConfig(NodeConfig):
    condition: str = Field(min_length=1, max_length=2_000)
    body: DagGraph
    max_iterations: int = Field(ge=1, le=MAX_WHILE_ITERATIONS)


@register
class LoopWhile(NodeHandler):
    type_name = "loop_while"
    description = ("Runs `body` while `condition` holds (checked before each iteration, with `index` and `last`, "
                   "the previous iteration's output); `max_iterations` is required.")
    Config = WhileConfig
    expression_fields = ("condition",)
    body_field = "body"

    async def run(self, run: Any, config: WhileConfig) -> Any:
        """The last iteration's output (None when the condition was false at once)."""
        last: Any = None
        for index in range(config.max_iterations + 1):
            if not run.evaluate(config.condition, index=index, last=last):
                return last
            if index == config.max_iterations:
                break
            last = await run.run_body(config.body, index, {"index": index, "last": last})
        raise LoopLimitError(f"loop_while '{run.node.id}' reached max_iterations ({config.max_iterations}) with its "
                             "condition still true")


class LoopLimitError(RuntimeError):
    """A `loop_while` whose condition still held after `max_iterations` iterations."""


async def all_or_first_error(calls: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """The values of `calls` in their order; on the first failure the others are cancelled and it is raised.

    An iteration that pauses (GraphParked: a node in it waits for an event, a delay or a retry) is no failure: the
    others run on as far as they can, and then the loop pauses too (its finished iterations are not run again)."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    if not tasks:
        return []
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            failed = next((t for t in done if not t.cancelled() and t.exception() is not None
                           and not isinstance(t.exception(), GraphParked)), None)
            if failed is not None:
                raise failed.exception()  # type: ignore[misc]
        if any(not t.cancelled() and isinstance(t.exception(), GraphParked) for t in tasks):
            raise GraphParked("some iterations wait")
        return [task.result() for task in tasks]
    finally:
        unfinished = [t for t in tasks if not t.done()]
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished)
