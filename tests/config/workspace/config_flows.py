"""Workflows of the config and secrets tests: read config and secrets, and leak a secret every way output leaves."""

import base64
import json
import logging
from urllib.parse import quote, quote_plus

from shared import ExecutionContext, UserError, workflow

log = logging.getLogger(__name__)


@workflow(name="cfg_async", execution_mode="sync")
async def cfg_async(context: ExecutionContext, key: str, default: str | None = None) -> dict:
    return {"value": context.get_config(key, default)}


@workflow(name="cfg_sync", execution_mode="sync")
def cfg_sync(context: ExecutionContext, key: str, default: str | None = None) -> dict:
    return {"value": context.get_config(key, default)}


@workflow(name="secret_async", execution_mode="sync")
async def secret_async(context: ExecutionContext, key: str) -> dict:
    value = await context.get_secret(key)  # the seed system's form
    return {"length": len(value), "type": type(value).__name__}


@workflow(name="secret_sync", execution_mode="sync")
def secret_sync(context: ExecutionContext, key: str) -> dict:
    value = context.get_secret(key)
    return {"length": len(value), "upper": value.upper()}


@workflow(name="no_config", execution_mode="sync")
async def no_config(context: ExecutionContext) -> dict:
    return {"ok": True}


def forms_of(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "json": json.dumps(secret)[1:-1],
        "quote": quote(secret, safe=""),
        "quote_path": quote(secret),
        "quote_plus": quote_plus(secret),
        "b64": base64.b64encode(raw).decode(),
        "b64_bare": base64.b64encode(raw).decode().rstrip("="),
        "b64url": base64.urlsafe_b64encode(raw).decode(),
        "b64url_bare": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def _leak(context: ExecutionContext, secret: str) -> dict:
    """Put the secret, and each of its encoded forms, in every kind of output but the HTTP records."""
    forms = forms_of(secret)
    context.info(f"token is {secret}!")
    log.warning("as JSON: %s", json.dumps({"token": secret}))
    for name, form in forms.items():
        print(f"{name}={form};")
    with context.step(f"step {secret}", input_data={"token": secret, "header": f"Bearer {secret}"}) as step:
        step.output_data = {"echo": forms["b64"], "keys": {secret: 1}}
    context.save_checkpoint("saved", {"url": f"https://x.test/?t={forms['quote_plus']}"})
    return {"plain": secret, "inside": f"Bearer {secret}!", "document": json.dumps({"t": secret}), "forms": forms,
            "list": [secret, 1, None]}


@workflow(name="leak_async", execution_mode="sync")
async def leak_async(context: ExecutionContext, key: str, url: str | None = None) -> dict:
    secret = await context.get_secret(key)
    out = _leak(context, secret)
    if url:
        await context.http.get(f"{url}/hook/{quote(secret, safe='')}")
        await context.http.post(f"{url}/b64/{forms_of(secret)['b64url_bare']}")
    return out


@workflow(name="leak_sync", execution_mode="sync")
def leak_sync(context: ExecutionContext, key: str) -> dict:
    return _leak(context, context.get_secret(key))


@workflow(name="leak_config", execution_mode="sync")
async def leak_config(context: ExecutionContext, key: str) -> dict:
    secret = context.get_config(key)  # a secret read through get_config is masked as well
    print(f"config says {secret}")
    return {"value": secret}


@workflow(name="fail_with_secret", execution_mode="sync")
async def fail_with_secret(context: ExecutionContext, key: str, user_error: bool = False) -> None:
    secret = await context.get_secret(key)
    if user_error:
        raise UserError(f"the service refused {secret}")
    raise ValueError(f"bad token {json.dumps(secret)}")
