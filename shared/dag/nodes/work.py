"""Nodes that do work: call a workflow (`action`), call a URL (`http_request`), compute a value (`transform`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from shared.dag.nodes.base import NodeConfig, NodeHandler, register


class ActionConfig(NodeConfig):
    """`workflow` names a registered `@workflow`; the DAG seed's `tool` + `action` name the function
    `<tool>_<action>` instead. `input` (or the seed's `input_template`) is its templated input."""

    workflow: str | None = None
    tool: str | None = None
    action: str | None = None
    connection_id: str | None = None
    input: Any = None
    input_template: Any = None

    @model_validator(mode="after")
    def _names_a_function(self) -> ActionConfig:
        if not self.workflow and not (self.tool and self.action):
            raise ValueError("name the workflow to call: `workflow`, or the seed's `tool` and `action`")
        if self.workflow and (self.tool or self.action):
            raise ValueError("give `workflow`, or `tool` and `action`, not both")
        if self.input is not None and self.input_template is not None:
            raise ValueError("give `input` or `input_template`, not both")
        return self

    @property
    def function_name(self) -> str:
        """The rule for the seed's shape: tool `slack` and action `send_message` call `slack_send_message`."""
        return self.workflow or f"{self.tool}_{self.action}"

    @property
    def input_value(self) -> Any:
        return self.input if self.input is not None else self.input_template


@register
class ActionNode(NodeHandler):
    type_name = "action"
    description = ("Calls a registered @workflow by name with templated input, through its input validation and "
                   "timeout, as a step of this execution.")
    Config = ActionConfig
    template_fields = ("input", "input_template")


class HttpRequestConfig(NodeConfig):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    expected_statuses: list[int] | None = None  # None: any 2xx
    follow_redirects: bool = False

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestConfig:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give `json` or `body`, not both")
        return self


@register
class HttpRequestNode(NodeHandler):
    type_name = "http_request"
    description = ("Calls a URL with httpx; output is the status, headers and parsed body. Sends an Idempotency-Key "
                   "derived from the execution, node and iteration.")
    Config = HttpRequestConfig
    template_fields = ("url", "headers", "query", "json", "body")


class TransformConfig(NodeConfig):
    """`template`: Jinja2 text whose rendering is JSON (or one `{{ expression }}`, whose value is taken as is);
    `value`: a JSON value whose strings are templates."""

    template: str | None = None
    value: Any = None

    @model_validator(mode="after")
    def _one_of(self) -> TransformConfig:
        if (self.template is None) == (self.value is None):
            raise ValueError("give exactly one of `template` and `value`")
        return self


@register
class TransformNode(NodeHandler):
    type_name = "transform"
    description = "Computes a JSON value from a Jinja2 template over the inputs and upstream outputs."
    Config = TransformConfig
    template_fields = ("template", "value")
