"""Gateways: nodes that choose which of their outgoing edges are taken; the others' branches are skipped."""

from __future__ import annotations

from pydantic import Field

from shared.dag.nodes.base import NodeConfig, NodeHandler, register


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
