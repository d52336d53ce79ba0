"""Nodes that do work: call a workflow (`action`), call a URL (`http_request`), compute a value (`transform`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from shared.dag.nodes.base import NodeConfig, NodeHandler, register

BODY_EXCERPT_CHARS = 500
IDEMPOTENCY_HEADER = "Idempotency-Key"


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

    async def run(self, run: Any, config: ActionConfig) -> Any:
        """Exactly `context.run_workflow`, with the node's timeout as one more bound and the node's step as its
        step (its log lines carry the node's step name)."""
        inputs = config.input_value if config.input_value is not None else {}
        if not isinstance(inputs, dict):
            raise TypeError(f"`input` must give an object of the workflow's inputs, got {type(inputs).__name__}")
        subcalls = run.context.subcalls
        if subcalls is None:
            raise RuntimeError("an action node runs only in an execution run by the engine")
        name = config.function_name
        metadata = subcalls.workflow(name)
        if config.connection_id is not None and any(p.name == "connection_id" for p in metadata.parameters):
            inputs = {**inputs, "connection_id": config.connection_id}
        called = subcalls.resolve(name, inputs)
        return await subcalls.call(run.context, called, step=(run.step_name, "dag_node"),
                                   timeout=run.node.timeout_seconds)


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

    async def run(self, run: Any, config: HttpRequestConfig) -> dict[str, Any]:
        headers = dict(config.headers)
        if not any(key.lower() == IDEMPOTENCY_HEADER.lower() for key in headers):
            headers[IDEMPOTENCY_HEADER] = idempotency_key(run.context.execution_id, run.node.id, run.iteration)
        response = await run.http().request(
            config.method, config.url, headers=headers, params=config.query or None,
            json=config.json_body, content=config.body, timeout=config.timeout_seconds,
            follow_redirects=config.follow_redirects,
        )
        expected = config.expected_statuses
        if (response.status_code not in expected) if expected else not 200 <= response.status_code < 300:
            wanted = ", ".join(map(str, expected)) if expected else "2xx"
            raise HttpStatusError(f"{config.method} {response.request.url.copy_with(query=None)} answered "
                                  f"{response.status_code} (expected {wanted}): {response.text[:BODY_EXCERPT_CHARS]}",
                                  response.status_code)
        return {"status": response.status_code, "headers": dict(response.headers), "body": parsed_body(response)}


class HttpStatusError(RuntimeError):
    """An `http_request` node got a status it does not expect (`status_code`, which `retry_on` can name)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def idempotency_key(execution_id: str, node_id: str, iteration: tuple[int, ...]) -> str:
    """The same for every run of one node at one iteration path of one execution (a re-run sends it again)."""
    path = "/".join(map(str, iteration))
    return hashlib.sha256(f"{execution_id}:{node_id}:{path}".encode()).hexdigest()[:40]


def parsed_body(response: httpx.Response) -> Any:
    """JSON when the response says it is JSON (and is), else text."""
    content_type = response.headers.get("content-type", "").lower()
    if "json" in content_type and response.content:
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


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

    async def run(self, run: Any, config: TransformConfig) -> Any:
        """`value` as rendered; `template`: one expression's value as is, else its rendered text parsed as JSON."""
        if config.template is None:
            return config.value
        from shared.dag.templates import single_expression  # here: the node registry loads without Jinja2

        raw = run.node.data.get("template")
        if isinstance(raw, str) and single_expression(raw) is not None:
            return config.template
        text = config.template if isinstance(config.template, str) else json.dumps(config.template)
        try:
            return json.loads(text)
        except ValueError as error:
            raise ValueError(f"`template` must render JSON (or be one {{{{ expression }}}}): {error}; it rendered "
                             f"{text[:200]!r}") from None
