"""Gateways: nodes that choose which of their outgoing edges are taken; the others' branches are skipped."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.dag.nodes.base import Branch, NodeConfig, NodeHandler, register

DEFAULT_LABEL = "default"


class IfConfig(NodeConfig):
    condition: str = Field(min_length=1, max_length=2_000)


@register
class GatewayIf(NodeHandler):
    type_name = "gateway_if"
    description = "Evaluates `condition` (a Jinja2 expression) and takes its edges labelled `true` or `false`."
    Config = IfConfig
    expression_fields = ("condition",)
    is_gateway = True
    branch_labels = frozenset({"true", "false"})

    async def run(self, run: Any, config: IfConfig) -> Branch:
        result = bool(run.evaluate(config.condition))
        return Branch({"result": result}, frozenset({"true" if result else "false"}))


class SwitchConfig(NodeConfig):
    expression: str = Field(min_length=1, max_length=2_000)


@register
class GatewaySwitch(NodeHandler):
    type_name = "gateway_switch"
    description = ("Evaluates `expression` and takes the edges labelled with its value (as text), else those "
                   "labelled `default`.")
    Config = SwitchConfig
    expression_fields = ("expression",)
    is_gateway = True

    async def run(self, run: Any, config: SwitchConfig) -> Branch:
        """Edges labelled with the value as text (a bool as `true`/`false`), else `default`, else none."""
        value = run.evaluate(config.expression)
        key = ("true" if value else "false") if isinstance(value, bool) else str(value)
        case = key if key in run.out_labels else DEFAULT_LABEL if DEFAULT_LABEL in run.out_labels else None
        return Branch({"value": value, "case": case}, frozenset() if case is None else frozenset({case}))
