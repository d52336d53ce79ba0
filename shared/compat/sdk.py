"""`from bifrost import config, secrets`: the seed system's config and secrets SDK, read-only, over the context.

Seed workflows write `await config.get("api_url", default=...)` and `await secrets.get("api_key")`. Here both read
what `context.get_config` / `context.get_secret` read — the execution's organization's stored value, then the
global one (then, for config, the app setting CONDUIT_CONFIG_<KEY>) — and a secret read either way is masked in
everything the execution stores. Being async, they first load the scope's config by awaiting (when the execution
runs on the engine's loop), so a cold read never makes the loop wait.

What the seed's SDK also did and Conduit does not: writing and deleting (`set`, `delete`: config is managed by admins
with `PUT /api/config/{key}`, not by whoever runs a workflow), listing (`list` would decrypt every secret of the
scope into one value), and reading another organization's values (`scope=` / `org_id=` naming another
organization: a workflow reads the organization it runs for). Each says so when called.
"""

from __future__ import annotations

import asyncio
from typing import Any

from shared.engine.context import ExecutionContext, get_context
from shared.errors import ForbiddenError, SecretNotFoundError

_MANAGED = "config and secrets are managed by admins with PUT/DELETE /api/config/{key}, not from workflows"
_NOT_OFFERED = {
    "set": _MANAGED,
    "delete": _MANAGED,
    "list": "read values one by one with get(key); listing would decrypt every secret of the organization at once",
}


class _Reader:
    """What `config` and `secrets` share: the execution's context, warmed, and clear refusals of the rest."""

    name = ""

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        why = _NOT_OFFERED.get(attribute, "Conduit offers only get(key)")
        raise AttributeError(f"bifrost.{self.name}.{attribute} is not offered by Conduit: {why}.")


class _Config(_Reader):
    """`bifrost.config`: `await config.get(key, default=None)`."""

    name = "config"

    async def get(self, key: str, default: Any = None, scope: str | None = None, org_id: str | None = None) -> Any:
        """The value `context.get_config(key, default)` gives: typed, a secret decrypted (and masked from then on)."""
        context = await _context_for(scope or org_id)
        return context.get_config(key, default)


class _Secrets(_Reader):
    """`bifrost.secrets`: `await secrets.get(key)`, the decrypted value or None, as the seed's SDK answers."""

    name = "secrets"

    async def get(self, key: str, org_id: str | None = None, scope: str | None = None) -> str | None:
        """The secret's value (masked from then on), or None when no secret `key` is stored for the execution's
        organization or globally — the execution's log says why (missing, or stored as a plain value)."""
        context = await _context_for(scope or org_id)
        try:
            return str(context.get_secret(key))
        except SecretNotFoundError as error:
            context.logger.warning("bifrost.secrets.get(%r) answered None: %s", key, error)
            return None


async def _context_for(scope: str | None) -> ExecutionContext:
    """The running execution's context, its scope's config loaded by awaiting; another organization is refused."""
    context = get_context()
    if scope is not None and scope != context.scope:
        raise ForbiddenError(
            f"A workflow reads the config of the organization it runs for ({context.scope}), not of {scope}: "
            "run it in that organization instead."
        )
    reader = context.config_reader
    if reader is not None and _running_loop() is reader.loop:
        await reader.preload(context.scope)
    return context


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


config = _Config()
secrets = _Secrets()
