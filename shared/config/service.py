"""Managing config over HTTP: list, read, set and delete values of the scope an admin acts in.

The scope is the caller's (an organization's admin: its organization; a platform admin: the X-Organization-Id it
sent, GLOBAL without one). A secret's value is never answered — not after a PUT, not by GET, not in a list — only
`"value": null, "is_secret": true`; workflows read it with `context.get_secret`. A PUT or DELETE drops this
instance's cached copy of the scope, so executions here see the change at once (other instances within
CONDUIT_CONFIG_CACHE_SECONDS).
"""

from __future__ import annotations

from typing import Any, cast

from shared.config.values import body_errors, key_errors
from shared.engine.config import ConfigReader
from shared.errors import ConfigNotFoundError, InputValidationError
from shared.identity import policy
from shared.models import GLOBAL_SCOPE, Caller, iso
from shared.storage.config import ConfigEntry, ConfigType
from shared.storage.secret_box import SecretBox


def entry_to_api(entry: ConfigEntry) -> dict[str, Any]:
    """A value as the API shows it: a secret's value is always null."""
    return {
        "key": entry.key,
        "scope": entry.scope,
        "type": entry.type,
        "value": None if entry.is_secret else entry.value,
        "is_secret": entry.is_secret,
        "updated_by": entry.updated_by,
        "updated_at": iso(entry.updated_at),
    }


class ConfigService:
    """Config of the scope an admin acts in, on one instance's store and reader."""

    def __init__(self, reader: ConfigReader) -> None:
        self.reader = reader
        self.store = reader.store

    async def list(self, caller: Caller) -> list[dict[str, Any]]:
        """The caller's scope's values (and, for a platform admin in an organization, the global ones it falls back
        to, each saying whether the organization overrides it), ordered by key then scope."""
        scopes = policy.config_list_scopes(caller)
        entries = [entry for scope in scopes for entry in await self.store.list(scope)]
        own = {entry.key for entry in entries if entry.scope != GLOBAL_SCOPE}
        items = [entry_to_api(entry) | {"overridden": entry.scope == GLOBAL_SCOPE and entry.key in own}
                 for entry in entries]
        return sorted(items, key=lambda item: (item["key"], item["scope"] == GLOBAL_SCOPE))

    async def get(self, caller: Caller, key: str) -> dict[str, Any]:
        scope = self._scope(caller)
        entry = await self.store.get(scope, key)
        if entry is None:
            raise ConfigNotFoundError(key, scope)
        return entry_to_api(entry)

    async def put(self, caller: Caller, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create or replace `key`; every wrong field (key, type, value, unknown ones) reported at once, nothing
        stored. A secret without CONDUIT_SECRETS_KEY set is refused (SecretsNotConfiguredError), never stored."""
        scope = self._scope(caller)
        errors = key_errors(key) + body_errors(body)
        if errors:
            raise InputValidationError(errors, f"Invalid config value: {', '.join(e.field for e in errors)}")
        type_ = cast(ConfigType, body["type"])
        entry = await self.store.put(scope, key, type_, body["value"], caller.user_id, SecretBox.from_env())
        self.reader.invalidate(scope)
        return entry_to_api(entry)

    async def delete(self, caller: Caller, key: str) -> None:
        scope = self._scope(caller)
        if not await self.store.delete(scope, key):
            raise ConfigNotFoundError(key, scope)
        self.reader.invalidate(scope)

    @staticmethod
    def _scope(caller: Caller) -> str:
        scope = policy.config_scope(caller)
        policy.check_config_admin(caller, scope)
        return scope
