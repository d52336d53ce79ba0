"""Webhook endpoints for tests/e2e/test_endpoints_e2e.py: a signed one and a public one."""

from shared import ExecutionContext, workflow


@workflow(name="e2e_hook_signed", endpoint_enabled=True, allowed_methods=["POST", "PUT"],
          webhook_secret="e2e_hook_secret", webhook_signature="conduit")
async def e2e_hook_signed(context: ExecutionContext, **fields) -> dict:
    return {"fields": fields, "trigger": context.trigger}


@workflow(name="e2e_hook_public", endpoint_enabled=True, public_endpoint=True)
async def e2e_hook_public(context: ExecutionContext, **fields) -> dict:
    return {"caller": context.caller.user_id, "address": context.trigger["client_address"]}
