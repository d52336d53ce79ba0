"""Webhook endpoint workflows for tests/http/test_endpoints.py and tests/e2e's devhost test."""

import base64

from shared import ExecutionContext, UserError, workflow


def _seen(context: ExecutionContext, **inputs) -> dict:
    raw = context.raw_body
    raw_b64 = None if raw is None else base64.b64encode(raw).decode()
    return {"inputs": inputs, "trigger": context.trigger, "raw_b64": raw_b64}


@workflow(name="hook_echo", endpoint_enabled=True, allowed_methods=["GET", "POST", "PUT"])
async def hook_echo(context: ExecutionContext, name: str, count: int = 1, tags: list[str] | None = None) -> dict:
    return _seen(context, name=name, count=count, tags=tags)


@workflow(name="hook_queued", endpoint_enabled=True, execution_mode="async")
async def hook_queued(context: ExecutionContext, **fields) -> dict:
    return _seen(context, **fields)


@workflow(name="hook_fails", endpoint_enabled=True)
async def hook_fails(context: ExecutionContext, **fields) -> dict:
    raise UserError("the payload was refused")


@workflow(name="hook_public", endpoint_enabled=True, public_endpoint=True)
async def hook_public(context: ExecutionContext, **fields) -> dict:
    return {"caller": context.caller.user_id, "scope": context.scope}


@workflow(name="hook_locked", endpoint_enabled=True, disable_global_key=True)
async def hook_locked(context: ExecutionContext, **fields) -> dict:
    return {"ran": True}


@workflow(name="hook_delivered", endpoint_enabled=True, webhook_delivery_header="X-Delivery")
async def hook_delivered(context: ExecutionContext, **fields) -> dict:
    return {"fields": fields, "execution_id": context.execution_id}


@workflow(name="hook_github", endpoint_enabled=True, webhook_secret="test_github_secret", webhook_signature="github")
async def hook_github(context: ExecutionContext, **fields) -> dict:
    return _seen(context, **fields)


@workflow(name="hook_stripe", endpoint_enabled=True, webhook_secret="test_stripe_secret", webhook_signature="stripe")
async def hook_stripe(context: ExecutionContext, **fields) -> dict:
    return _seen(context, **fields)


@workflow(name="hook_slack", endpoint_enabled=True, webhook_secret="test_slack_secret", webhook_signature="slack")
async def hook_slack(context: ExecutionContext, **fields) -> dict:
    return _seen(context, **fields)


@workflow(name="hook_conduit", endpoint_enabled=True, webhook_secret="test_conduit_secret",
          webhook_signature="conduit", execution_mode="async")
async def hook_conduit(context: ExecutionContext, **fields) -> dict:
    return _seen(context, **fields)


@workflow(name="hook_unconfigured", endpoint_enabled=True, webhook_secret="test_never_set",
          webhook_signature="conduit")
async def hook_unconfigured(context: ExecutionContext, **fields) -> dict:
    return {"ran": True}


@workflow(name="hook_stored", endpoint_enabled=True, webhook_secret="test_stored_secret", webhook_signature="github")
async def hook_stored(context: ExecutionContext, **fields) -> dict:
    return _seen(context, **fields)
