"""Loops: a nested `body` graph run once per item (`loop_foreach`) or while a condition holds (`loop_while`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.dag.definition import DagGraph
from shared.dag.nodes.base import NodeConfig, NodeHandler, register

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
