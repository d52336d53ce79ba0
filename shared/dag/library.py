"""DAGs created through the API: manage them, list them with the file DAGs, and find them when a run names one.

A stored DAG is one more workflow: once created, every trigger runs it by name through the engine, because the
runtime attaches this library as the engine's resolver (shared.engine.resolution). Its versions are immutable
(shared.storage.dags), so a version, once read, is cached in-process for good (a bounded LRU of CACHE_SIZE); a run
by name costs one point read of the head's version column (one more per scope looked in: a global DAG run from an
organization costs two), plus the version row the first time this process meets that version.

Who may do what is asked of `shared.identity.policy`: admins manage (platform admins any scope they act in, an
organization's admins their own), whoever may run a DAG reads it, other organizations never see it (404).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.dag.definition import DagDefinition
from shared.dag.registration import dag_metadata, definition_of
from shared.engine.resolution import ResolvedDefinition
from shared.errors import ConflictError, DagNotFoundError, DagValidationError, FieldError, InputValidationError
from shared.functions.registry import FunctionMetadata, FunctionRegistry
from shared.identity import policy
from shared.models import GLOBAL_SCOPE, Caller, ExecutionRequest, iso
from shared.storage.dags import DagStore, StoredDag

log = logging.getLogger("conduit.dags")

API_SOURCE = "api"
ADHOC_TRIGGER = "dag_execute"
# Paths under /api/dags/ that are not DAG names (GET /api/dags/schema, POST /api/dags/validate, ...).
RESERVED_NAMES = frozenset({"execute", "schema", "node-types", "validate"})
CACHE_SIZE = 512  # versions kept in memory per process; each is a parsed definition and its input model


def check(raw: DagDefinition | dict[str, Any], registry: FunctionRegistry | None) -> DagDefinition:
    """The definition, or DagValidationError (422) naming every problem at once: shape, graph, templates, size
    (`shared.dag.validation.check_definition`, the same check as files and POST /api/dags/validate)."""
    from shared.dag.validation import check_definition  # loads Jinja2: on first use, not when function_app imports

    return check_definition(raw, registry)


@dataclass(frozen=True)
class DagView:
    """A DAG as `GET /api/dags/{name}` shows it: stored (source "api", versioned) or from a file."""

    name: str
    source: str
    definition: dict[str, Any]
    description: str = ""
    scope: str | None = None
    version: int | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    etag: str | None = None

    def to_api(self, *, with_definition: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "scope": self.scope,
            "version": self.version,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
            "updated_by": self.updated_by,
        }
        if self.etag is not None:
            body["etag"] = self.etag
        if with_definition:
            body["definition"] = self.definition
        return body


@dataclass
class DagLibrary:
    """Stored DAGs of one store, next to the file DAGs of one registry; also the engine's resolver."""

    store: DagStore
    registry: FunctionRegistry
    cache_size: int = CACHE_SIZE
    _versions: OrderedDict[tuple[str, str, int], ResolvedDefinition] = field(default_factory=OrderedDict)

    async def create(self, caller: Caller, raw: dict[str, Any]) -> DagView:
        """Store a new DAG in the scope the admin acts in, as version 1 (or after the versions a deleted DAG of
        that name left). 409 when the scope has one of that name, or a registered function (a file DAG, a Python
        workflow) is called so: the registry would always win the name."""
        policy.check_dag_admin(caller, "create DAGs")
        checked = self._checked(raw)
        if self.registry.get(checked.name) is not None:
            raise ConflictError(
                f"'{checked.name}' is the name of a registered function; a stored DAG needs a name of its own.",
                details={"name": checked.name},
            )
        stored = await self.store.create(policy.dag_owner_scope(caller), checked.name, _document(checked),
                                         _author(caller))
        return _view(stored)

    async def update(self, caller: Caller, name: str, raw: dict[str, Any], if_match: str | None) -> DagView:
        """Store the next version of a DAG of the caller's scope; runs already started keep theirs. The body is
        the whole definition (its `name` may be left out; `version` is storage's and ignored)."""
        policy.check_dag_admin(caller, "change DAGs")
        if "name" in raw and raw["name"] != name:
            raise InputValidationError([FieldError("name", f"a DAG's name cannot change; this is DAG '{name}'",
                                                   "name_changed")])
        checked = self._checked(raw | {"name": name})
        stored = await self.store.update(policy.dag_owner_scope(caller), name, _document(checked), _author(caller),
                                         if_match)
        return _view(stored)

    async def delete(self, caller: Caller, name: str, if_match: str | None = None) -> None:
        """Remove a DAG of the caller's scope: it no longer runs or lists; started runs finish on their version."""
        policy.check_dag_admin(caller, "delete DAGs")
        await self.store.delete(policy.dag_owner_scope(caller), name, if_match)

    async def get(self, caller: Caller, name: str, version: int | None = None) -> DagView:
        """The DAG the caller would run by this name (a file DAG first, as the engine), or one stored version."""
        if not policy.sees_dag(caller, name):
            raise DagNotFoundError(name)
        registered = self.registry.get(name)
        if version is None and registered is not None and definition_of(registered) is not None:
            return _file_view(registered)
        for scope in policy.dag_lookup_scopes(caller):
            stored = await (self.store.get(scope, name) if version is None
                            else self.store.get_version(scope, name, version))
            if stored is not None:
                return _view(stored)
        raise DagNotFoundError(name)

    async def list(self, caller: Caller) -> list[DagView]:
        """The DAGs the caller may run, by name: file DAGs, then its organization's and the global stored ones (an
        organization's shadows a global one of its name). Items carry no definition: GET one for it."""
        found: dict[str, DagView] = {}
        for metadata in self.registry.list("dag"):
            found.setdefault(metadata.name, _file_view(metadata))
        for scope in policy.dag_lookup_scopes(caller):
            for stored in await self.store.list(scope):
                found.setdefault(stored.name, _view(stored))
        return sorted((v for v in found.values() if policy.sees_dag(caller, v.name)), key=lambda v: v.name.lower())

    async def workflow(self, caller: Caller, name: str) -> FunctionMetadata | None:
        """What `name` runs for this caller, as the engine finds it: a registered workflow, else the current version
        of its scope's (or the global) stored DAG; None when there is none."""
        registered = self.registry.get(name)
        if registered is not None:
            return registered if registered.is_workflow else None
        found = await self.resolve(caller.scope, name)
        return found.metadata if found is not None else None

    async def resolve(
        self, scope: str, name: str, version: int | None = None, owner: str | None = None
    ) -> ResolvedDefinition | None:
        """The engine's resolver (shared.engine.resolution.DefinitionResolver)."""
        if version is not None:
            return await self._pinned(owner or scope, name, version)
        for where in (scope,) if scope == GLOBAL_SCOPE else (scope, GLOBAL_SCOPE):
            current = await self.store.current_version(where, name)
            if current is not None:
                return await self._pinned(where, name, current)
        return None

    def adhoc_request(self, caller: Caller, raw: dict[str, Any], payload: dict[str, Any]) -> ExecutionRequest:
        """`POST /api/dags/execute`: run a definition that is registered nowhere, as itself, with the payload as
        its inputs (its parameters' validation applies). Recorded like any run, trigger kind `dag_execute`; it is
        not pinned to a stored version (there is none), so it runs in the process that received it."""
        policy.check_dag_admin(caller, "run unregistered DAGs")
        try:
            checked = check(raw, self.registry)
        except InputValidationError as invalid:  # every problem, each where it is in this body
            raise DagValidationError([replace(e, field=_in_body(e.field)) for e in invalid.errors],
                                     _name_of(raw)) from None
        return ExecutionRequest(
            caller=caller,
            name=checked.name,
            parameters=dict(payload),
            trigger={"kind": ADHOC_TRIGGER},
            definition=dag_metadata(checked),
        )

    def _checked(self, raw: dict[str, Any]) -> DagDefinition:
        """The definition, or one 422 with every problem: the validator's and what a stored DAG may not have."""
        problems: list[FieldError] = []
        if raw.get("name") in RESERVED_NAMES:
            problems.append(FieldError("name", f"'{raw['name']}' is a path of /api/dags/, not a DAG name",
                                       "reserved_name"))
        if raw.get("schedule") is not None:
            problems.append(FieldError("schedule", "a stored DAG cannot be scheduled: scheduled DAGs live in "
                                                   "*.dag.json files, deployed with the app", "not_for_stored_dags"))
        if raw.get("endpoint_enabled"):
            problems.append(FieldError("endpoint_enabled", "a stored DAG cannot be a webhook endpoint: endpoints "
                                                           "live in *.dag.json files, deployed with the app",
                                    "not_for_stored_dags"))
        try:
            checked = check(raw, self.registry)
        except InputValidationError as invalid:
            raise DagValidationError(problems + invalid.errors, _name_of(raw)) from None
        if problems:
            raise DagValidationError(problems, checked.name)
        return checked

    async def _pinned(self, owner: str, name: str, version: int) -> ResolvedDefinition | None:
        cached = self._versions.get((owner, name, version))
        if cached is not None:
            self._versions.move_to_end((owner, name, version))
            return cached
        stored = await self.store.get_version(owner, name, version)
        return self._remember(stored) if stored is not None else None

    def _remember(self, stored: StoredDag) -> ResolvedDefinition:
        """The runnable form of a stored version, built once per process (versions never change)."""
        key = (stored.scope, stored.name, stored.version)
        resolved = self._versions.get(key)
        if resolved is None:
            try:
                definition = DagDefinition.model_validate(stored.definition)
            except ValidationError as error:  # stored by an older release whose format this one no longer reads
                raise InputValidationError([_field_error(e) for e in error.errors()],
                                           f"Stored DAG '{stored.name}' version {stored.version} no longer "
                                           "validates") from None
            resolved = ResolvedDefinition(dag_metadata(definition), stored.scope, stored.version)
            self._versions[key] = resolved
            while len(self._versions) > self.cache_size:
                self._versions.popitem(last=False)
        else:
            self._versions.move_to_end(key)
        return resolved


def _document(definition: DagDefinition) -> dict[str, Any]:
    return {key: value for key, value in definition.to_json().items() if key != "version"}


def _author(caller: Caller) -> str:
    return caller.email or caller.name or caller.user_id


def _view(stored: StoredDag) -> DagView:
    return DagView(
        name=stored.name,
        source=API_SOURCE,
        definition=stored.definition,
        description=stored.description,
        scope=stored.scope,
        version=stored.version,
        created_at=stored.created_at,
        created_by=stored.created_by,
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
        etag=stored.etag,
    )


def _file_view(metadata: FunctionMetadata) -> DagView:
    definition = definition_of(metadata)
    shown = definition.to_json() if definition is not None else {"name": metadata.name}
    return DagView(name=metadata.name, source=str(metadata.source or "workspace"), definition=shown,
                   description=metadata.description)


def _name_of(raw: dict[str, Any]) -> str | None:
    name = raw.get("name")
    return name if isinstance(name, str) else None


def _in_body(where: str) -> str:
    """Where a problem of the definition is in `POST /api/dags/execute`'s body (under `dag`)."""
    return where if where == "dag" or where.startswith("dag.") else f"dag.{where}"


def _field_error(error: Any) -> FieldError:
    where = ".".join(str(part) for part in error["loc"]) or "dag"
    return FieldError(where, "unknown field" if error["type"] == "extra_forbidden" else error["msg"])
