"""What `import bifrost` offers under Conduit: the seed system's names that Conduit's public API provides.

`workflow`, `data_provider`, `param`, `ExecutionContext` (also under the seed's older name `OrganizationContext`),
`UserError`, `get_context`, `context` (the running execution's context, looked up on each use, as the seed's
`from bifrost import context` is), and `config` / `secrets` (`await config.get(key)`, `await secrets.get(key)`:
stored config and secrets through the context; see sdk.py). Every other name the seed system has — its SDK modules
and helpers — fails the import with a message that names it and says what to use instead; it never passes silently
as a missing attribute.
"""

from __future__ import annotations

import types
from typing import Any

from shared.compat import sdk
from shared.engine.context import ExecutionContext, get_context
from shared.errors import CompatImportError, UserError
from shared.functions.decorators import data_provider, param, workflow

MODULE_NAME = "bifrost"

_REASONS = {
    "organizations": "organizations are managed by platform admins with /api/organizations, not from workflows; "
                     "context.org_id is the organization the execution runs for",
    "files": "it has no file storage for workflows; use the Azure SDK or a library in your workflow",
    "integrations": "it has no integration store (OAuth connections); call the service with context.http",
    "users": "it has no user directory for workflows",
    "roles": "roles come with the caller's key or token (context.caller.roles) and are not managed from workflows",
    "tool": "it has no AI tools; declare a @workflow instead",
}


class _CurrentContext:
    """`from bifrost import context`: each attribute is read from the context of the execution running now."""

    def __getattr__(self, name: str) -> Any:
        return getattr(get_context(), name)

    def __repr__(self) -> str:
        return "<the running execution's ExecutionContext>"


OFFERED: dict[str, Any] = {
    "workflow": workflow,
    "data_provider": data_provider,
    "param": param,
    "ExecutionContext": ExecutionContext,
    "OrganizationContext": ExecutionContext,
    "UserError": UserError,
    "get_context": get_context,
    "context": _CurrentContext(),
    "config": sdk.config,
    "secrets": sdk.secrets,
}


def not_offered(name: str) -> CompatImportError:
    """The load error for `bifrost.<name>` (a submodule or a name imported from it)."""
    if name in OFFERED:  # `import bifrost.workflow`: offered, but as a name of the module, not a module of its own
        return CompatImportError(
            f"`{MODULE_NAME}.{name}` is not a module: Conduit offers {name} as a name, so write "
            f"`from {MODULE_NAME} import {name}`."
        )
    reason = _REASONS.get(name, "it is not part of Conduit's API")
    return CompatImportError(
        f"`{MODULE_NAME}.{name}` is not offered by Conduit: {reason}. From bifrost Conduit offers only "
        f"{', '.join(OFFERED)}."
    )


def switched_off(setting: str) -> CompatImportError:
    """The load error for `import bifrost` while the compatibility setting is off."""
    return CompatImportError(
        f"`import {MODULE_NAME}` needs the setting {setting}=true, which makes it resolve to Conduit's API "
        "(workflow, data_provider, param, ExecutionContext, UserError, get_context, config, secrets); or import "
        "them from `shared`."
    )


def _missing(name: str) -> Any:
    if name.startswith("__") and name.endswith("__"):  # probes by import machinery, inspect, pickle, pytest
        raise AttributeError(f"module {MODULE_NAME!r} has no attribute {name!r}")
    raise not_offered(name)


def populate(module: types.ModuleType) -> None:
    """Fill a fresh `bifrost` module: the offered names, and a module `__getattr__` that names what is not."""
    module.__dict__.update(OFFERED)
    module.__all__ = list(OFFERED)  # type: ignore[attr-defined]
    module.__getattr__ = _missing  # type: ignore[method-assign]
    module.__doc__ = "Conduit's API under the seed system's name (CONDUIT_BIFROST_COMPAT); see shared.compat."
    module.__file__ = __file__  # where it comes from, e.g. when discovery finds a workspace file named bifrost.py
