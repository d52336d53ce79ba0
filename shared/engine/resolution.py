"""Workflows the registry does not hold: a resolver, attached by the runtime, finds them before the engine prepares.

The registry is filled at start-up from files. DAGs created through the API (shared.dag.library) live in storage, per
organization, versioned; reading them is asynchronous, while `Engine.prepare` is not. So every way a workflow is run
by name — `Engine.execute`, `Engine.run_claimed` (the queue worker, retries, takeovers) and
`shared.executions.service.submit` (HTTP, forms, endpoints, schedules) — awaits `resolve_request` first: it finds the
definition, pins its version on the request (the record stores the pin), and `prepare` runs what was pinned. No
trigger has a path of its own, and a run that was queued before a change runs the version it was queued with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shared.errors import WorkflowNotFoundError

if TYPE_CHECKING:
    from shared.functions.registry import FunctionMetadata, FunctionRegistry
    from shared.models import ExecutionRequest


@dataclass(frozen=True)
class ResolvedDefinition:
    """A stored workflow ready to run: its registry record, the scope that owns it and its version."""

    metadata: FunctionMetadata
    scope: str
    version: int


class DefinitionResolver(Protocol):
    """Finds a stored workflow by name for a run in `scope`: the current version (`version` None; the scope's own
    first, then the global one), or exactly `version` of the one `owner` holds (a pinned run)."""

    async def resolve(
        self, scope: str, name: str, version: int | None = None, owner: str | None = None
    ) -> ResolvedDefinition | None: ...


async def resolve_request(
    request: ExecutionRequest, registry: FunctionRegistry, resolver: DefinitionResolver | None
) -> None:
    """Set `request.definition` (and its pin) when the run is of a stored workflow; leave it alone otherwise.

    A pinned version wins over the registry (it is what the run started with); otherwise a registered function wins
    (stored DAGs cannot take a registered name, and the registry holds what the deployment ships). A pinned version
    that cannot be found raises WorkflowNotFoundError (the run cannot be what it was submitted as)."""
    if resolver is None or request.code is not None or request.definition is not None or not request.name:
        return
    if request.role == "data_provider":
        return  # stored definitions are workflows only
    pinned = request.definition_version is not None
    if not pinned and registry.get(request.name) is not None:
        return
    found = await resolver.resolve(request.effective_scope, request.name, request.definition_version,
                                   request.definition_scope)
    if found is None:
        if pinned:  # version rows are never deleted: only lost storage gets here; the run cannot be what it was
            raise WorkflowNotFoundError(request.name)
        return
    request.definition = found.metadata
    request.definition_version, request.definition_scope = found.version, found.scope
