"""Run a data provider for its options: a transient execution through `engine.execute`, answered from its cache.

The engine does the work (validation, capture, timeout, cache, the options' shape); this module turns its result into
the answer a dropdown needs, or into an error that says what went wrong: the provider's own message for a
`UserError` (422), a timeout (504), or anything else it did (502) — never a bare 500.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.engine.core import Engine
from shared.errors import ProviderFailedError, ProviderRefusedError, ProviderTimeoutError
from shared.functions.registry import FunctionRegistry
from shared.identity import policy
from shared.models import Caller, ExecutionRequest, ExecutionResult, ExecutionStatus


@dataclass
class ProviderCall:
    """One request for a provider's options."""

    name: str
    caller: Caller
    inputs: dict[str, Any] = field(default_factory=dict)
    no_cache: bool = False
    debug: bool = False  # admins only: the answer carries the run's log lines
    organization_id: str | None = None  # another organization's scope (platform admins only)


def list_providers(registry: FunctionRegistry) -> list[dict[str, Any]]:
    """Every registered data provider, as `GET /api/data-providers` lists them."""
    return [metadata.to_provider_api() for metadata in registry.list("data_provider")]


async def provider_options(engine: Engine, call: ProviderCall) -> dict[str, Any]:
    """The provider's options as `{"provider", "options", "cached", "cache_expires_at", "stale"}` (+ `logs` when
    debugging). Raises `DataProviderNotFoundError` (404), `InputValidationError` (422, every field at once),
    `ProviderFailedError` and its kinds."""
    if call.debug:
        policy.require_platform_admin(call.caller, "see a data provider's log lines (debug)")
    policy.check_may_run(call.caller, call.name, "data provider")
    request = ExecutionRequest(
        caller=call.caller,
        name=call.name,
        parameters=dict(call.inputs),
        scope=policy.scope_for(call.caller, call.organization_id),
        trigger={"kind": "data_provider"},
        transient=True,
        no_cache=call.no_cache,
        role="data_provider",
    )
    result = await engine.execute(request)
    if result.status is not ExecutionStatus.SUCCESS:
        raise provider_error(call.name, result, call.debug)
    answer: dict[str, Any] = {
        "provider": call.name,
        "options": result.result,
        "cached": result.cached,
        "cache_expires_at": result.cache_expires_at,
        "stale": result.stale,
    }
    if call.debug:
        answer["logs"] = [line.to_dict() for line in result.logs]
    return answer


def provider_error(name: str, result: ExecutionResult, debug: bool) -> ProviderFailedError:
    """The error a failed provider run answers with: what went wrong, in the provider's words where it gave some."""
    details: dict[str, Any] = {"provider": name, "status": result.status.value, "error_type": result.error_type}
    if debug:
        details["logs"] = [line.to_dict() for line in result.logs]
    message = result.error_message or result.status.value
    if result.status is ExecutionStatus.TIMEOUT:
        return ProviderTimeoutError(f"Data provider '{name}' timed out: {message}", details=details)
    if result.error_type == "UserError":
        return ProviderRefusedError(message, details=details)
    if result.error_type == "InvalidOptions":
        return ProviderFailedError(message, details=details)
    return ProviderFailedError(f"Data provider '{name}' failed: {result.error_type}: {message}", details=details)
