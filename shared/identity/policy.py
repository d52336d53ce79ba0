"""Who may do what: every authorization decision Conduit makes, in one place.

Trigger files only decode, call and encode; the execution service and the engine consult this module before they
act, so a rule holds for every way in (HTTP, forms, schedules, webhooks) and changes in one place when the caller
model grows (organizations, roles). Each check raises `ForbiddenError` naming what was refused, or
`InputValidationError` naming the field, so the caller learns exactly what to change.
"""

from __future__ import annotations

from typing import Literal, Protocol

from shared.errors import (
    ApiKeyNotFoundError,
    ExecutionNotFoundError,
    FieldError,
    ForbiddenError,
    InputValidationError,
    UnauthorizedError,
)
from shared.models import GLOBAL_SCOPE, ORG_ADMIN, Caller, ExecutionRecord

ExecutionMode = Literal["sync", "async"]
FormAccess = Literal["authenticated", "roles"]


def require_platform_admin(caller: Caller, action: str) -> None:
    """Refuse `action` ("run inline scripts") to anyone but a platform admin."""
    if not caller.is_platform_admin:
        raise ForbiddenError(f"Only platform admins may {action}.")


def is_org_admin(caller: Caller) -> bool:
    """An OrgAdmin acting in its own organization (a caller who is no platform admin acts nowhere else)."""
    return (
        ORG_ADMIN in caller.roles
        and caller.organization_id is not None
        and caller.scope == caller.organization_id
    )


def is_admin(caller: Caller) -> bool:
    """A platform admin, or an admin of the organization the caller acts in."""
    return caller.is_platform_admin or is_org_admin(caller)


def require_admin(caller: Caller, action: str) -> None:
    """Refuse `action` to anyone but a platform admin or an admin of the caller's organization."""
    if not is_admin(caller):
        raise ForbiddenError(f"Only admins may {action}.")


# Executions ------------------------------------------------------------------------------------------------------


def execution_owner_filter(caller: Caller) -> str | None:
    """Whose executions a listing shows: None (all of the scope) for admins, else the caller's own only."""
    return None if is_admin(caller) else caller.owner_key


def check_sees_execution(caller: Caller, record: ExecutionRecord) -> None:
    """A user sees only its own executions, an admin those of the scope it acts in; another user's, or another
    scope's, answers exactly as a missing one (404). Executions are read from the caller's scope's partition, so
    the scope test is a second lock: no rule built on this one can hand an admin of B an execution of A."""
    if record.scope != caller.scope or (not is_admin(caller) and record.owner_id != caller.owner_key):
        raise ExecutionNotFoundError(record.id)


def check_may_cancel(caller: Caller, record: ExecutionRecord) -> None:
    """Cancelling (and, when it comes, re-running) an execution: whoever may see it — a user its own, an
    organization's admin every execution of its organization, a platform admin any of the scope it acts in.
    Another's answers 404 exactly as a missing one, so a cancel learns nothing a read would not."""
    check_sees_execution(caller, record)


def check_may_deliver_event(caller: Caller, record: ExecutionRecord) -> None:
    """Delivering an event to a waiting (DAG) execution (`POST .../executions/{id}/events/{name}`) moves it on,
    as a cancel does, so the same rule holds: its own user, its organization's admins, platform admins; anyone
    else 404. (The route arrives with DAG executions; the rule is decided here first so that it cannot differ.)"""
    check_may_cancel(caller, record)


def sees_debug_detail(caller: Caller | None) -> bool:
    """Whether the caller sees an execution's DEBUG log lines and an inline script's `variables`: admins only
    (platform admins, and an organization's admins for the executions of their organization — the only ones they
    can read). DEBUG lines and variables hold what a workflow's author did not mean to show (tokens, internal
    ids, settings); a user sees INFO and above, results and errors. Anonymous and webhook callers never see them."""
    return caller is not None and is_admin(caller)


def check_may_run(caller: Caller, name: str, what: str = "workflow") -> None:
    """Whether the caller may run this workflow or data provider: an API key limited to some workflows runs only
    those, and a user of an organization only what its allowlist names (platform admins are not limited)."""
    if caller.workflows is not None and name not in caller.workflows:
        raise ForbiddenError(f"This API key may not run the {what} '{name}'.", details={"name": name})
    allowlist = caller.organization_allowlist
    if not caller.is_platform_admin and allowlist is not None and name not in allowlist:
        raise ForbiddenError(f"Your organization does not allow the {what} '{name}'.", details={"name": name})


def may_list_function(caller: Caller, name: str) -> bool:
    """Whether `GET /api/workflows` and `/api/data-providers` list this function to the caller."""
    try:
        check_may_run(caller, name)
    except ForbiddenError:
        return False
    return True


# API keys and organizations ----------------------------------------------------------------------------------------


def key_owner_for(caller: Caller, org_id: str | None) -> str | None:
    """The organization a new key belongs to (None: global). Platform admins make keys of any organization or
    global ones; an organization's admin only keys of its own organization."""
    if caller.is_platform_admin:
        return org_id
    require_admin(caller, "manage API keys")
    if org_id != caller.organization_id:
        raise ForbiddenError("Organization admins create keys of their own organization only.",
                             details={"org_id": org_id})
    return org_id


def keys_listed_for(caller: Caller) -> tuple[bool, str | None]:
    """(every key?, else the organization whose keys): platform admins see every key (or those of the organization
    X-Organization-Id names), an organization's admin those of its organization."""
    if caller.is_platform_admin:
        return caller.scope == GLOBAL_SCOPE, None if caller.scope == GLOBAL_SCOPE else caller.scope
    require_admin(caller, "list API keys")
    return False, caller.organization_id


def check_manages_key(caller: Caller, key_id: str, key_org: str | None) -> None:
    """Revoking: a key of another organization (or a global one, for an organization's admin) answers 404."""
    require_admin(caller, "revoke API keys")
    if not caller.is_platform_admin and key_org != caller.organization_id:
        raise ApiKeyNotFoundError(key_id)


def check_manages_organizations(caller: Caller) -> None:
    """Creating, listing, deactivating and deleting organizations is for platform admins."""
    require_platform_admin(caller, "manage organizations")


def check_reads_organization(caller: Caller, organization_id: str) -> bool:
    """Whether the caller may read (and, as its admin, restrict the allowlist of) this organization."""
    return caller.is_platform_admin or (is_org_admin(caller) and caller.organization_id == organization_id)


def check_changes_organization(caller: Caller, organization_id: str, fields: set[str]) -> None:
    """Platform admins change everything; an organization's admin only its own organization's allowlist and how
    long its finished executions are kept."""
    if caller.is_platform_admin:
        return
    if not check_reads_organization(caller, organization_id) or fields - {"allowed_workflows", "retention_days"}:
        raise ForbiddenError("Organization admins may change their own organization's allowed_workflows and "
                             "retention_days only.")


def check_script(caller: Caller) -> None:
    """Inline scripts run arbitrary code with the platform's settings: platform admins only."""
    require_platform_admin(caller, "run inline scripts")


def sees_health_details(caller: Caller | None) -> bool:
    """Health without a key says only up/down and versions; load errors (paths, messages), counts and storage errors
    help whoever attacks a deployment as much as whoever runs it, so they are for platform admins."""
    return caller is not None and caller.is_platform_admin


def check_log_level(caller: Caller, log_level: str | None) -> None:
    """Choosing an execution's log level is for platform admins: DEBUG lines can hold what users should not see."""
    if log_level is not None:
        require_platform_admin(caller, "choose an execution's log_level")


def scope_for(caller: Caller, organization_id: str | None) -> str:
    """The scope an execution runs and is recorded in: the caller's own, or another one for a platform admin (or
    a global form submitted in the caller's own organization)."""
    if organization_id is None or organization_id == caller.scope:
        return caller.scope
    require_platform_admin(caller, "act in another organization's scope")
    return organization_id


def waits_for_result(declared: ExecutionMode, requested: ExecutionMode | None, idempotency_key: str | None) -> bool:
    """Whether the caller waits for the run (sync) or gets an execution id at once (async).

    A caller may ask for either mode; without asking, the workflow's declared mode holds. An idempotency key makes
    a retried submit safe; a sync run answers with its result in the same request, so a key there is a mistake."""
    wait = (requested or declared) == "sync"
    if wait and idempotency_key:
        raise InputValidationError([FieldError("idempotency_key", "applies to async executions only")])
    return wait


def check_form_admin(caller: Caller, action: str) -> None:
    """Creating, changing and deleting forms is for admins: platform admins in the scope they act in, an
    organization's admins in their organization."""
    require_admin(caller, action)


def form_owner_scope(caller: Caller) -> str:
    """The scope a new form belongs to: the one its admin acts in (X-Organization-Id), GLOBAL without one."""
    return caller.scope


def form_lookup_scopes(caller: Caller) -> tuple[str, ...]:
    """Where a caller's forms live, nearest first: its own organization's, then the global ones (an organization's
    form of the same id shadows a global one)."""
    return (caller.scope,) if caller.scope == GLOBAL_SCOPE else (caller.scope, GLOBAL_SCOPE)


def sees_form(
    caller: Caller, owner_scope: str, *, is_active: bool, access_level: FormAccess, roles: frozenset[str]
) -> bool:
    """Whether a form exists for this caller (if not, it is answered 404 as if it did not exist).

    Admins see every form of the scope they act in and the global ones, inactive too. Anyone else: active forms only,
    of their own organization or global; `authenticated` forms for every such user, `roles` forms for users holding
    one of the roles."""
    if owner_scope not in form_lookup_scopes(caller):
        return False
    if caller.is_platform_admin or (is_org_admin(caller) and owner_scope == caller.scope):
        return True
    if not is_active:
        return False
    return access_level == "authenticated" or bool(roles & caller.roles)


def form_run_scope(caller: Caller, owner_scope: str) -> str:
    """Where a form's workflow and providers run: a global form in the submitter's own scope (its executions and
    cached options are the organization's), an organization's form in that organization."""
    return caller.scope if owner_scope == GLOBAL_SCOPE else owner_scope


def sees_launch_logs(caller: Caller) -> bool:
    """A form's launch workflow runs transient, for any user opening the form; its log lines (stored nowhere) are
    shown to admins only, as a data provider's are."""
    return caller.is_platform_admin


class Endpoint(Protocol):
    """What the endpoint rules read of a workflow (its registered metadata satisfies this)."""

    @property
    def name(self) -> str: ...
    @property
    def public_endpoint(self) -> bool: ...
    @property
    def disable_global_key(self) -> bool: ...
    @property
    def webhook_signature(self) -> str | None: ...


ANONYMOUS = Caller(user_id="anonymous", name="Anonymous", kind="anonymous", scope=GLOBAL_SCOPE)
KEY_KINDS = ("api_key", "admin_key")


def endpoint_credential(endpoint: Endpoint) -> Literal["signature", "public", "api_key"]:
    """What lets a request in: a verified signature (it is the credential; keys are ignored), nothing (public), or
    an API key. A signed endpoint that is also public still needs its signature: the stricter rule holds."""
    if endpoint.webhook_signature:
        return "signature"
    return "public" if endpoint.public_endpoint else "api_key"


def check_endpoint_access(caller: Caller | None, endpoint: Endpoint, *, key_presented: bool = False) -> Caller:
    """Who runs a webhook endpoint's execution, or UnauthorizedError / ForbiddenError.

    - signed (its signature already verified) and public endpoints: an anonymous caller in GLOBAL scope — whatever
      key the request carries, so that a shared URL never runs as whoever's key happens to be attached;
    - otherwise an API key (or the bootstrap admin key): one limited to workflows must list this one; a key that
      is not limited (an organization's or a global key, and the admin key) is refused when the endpoint sets
      `disable_global_key` — then only a key made for this workflow calls it. A user's token is no API key: other
      services call endpoints, people run workflows through POST /api/workflows/{name}/execute.
    The execution runs in the caller's scope (an organization's key: that organization)."""
    credential = endpoint_credential(endpoint)
    if credential == "signature":
        return Caller(user_id="webhook", name=f"Signed webhook ({endpoint.webhook_signature})", kind="anonymous",
                      scope=GLOBAL_SCOPE)
    if credential == "public":
        return ANONYMOUS
    if caller is None:
        if key_presented:
            raise UnauthorizedError("Invalid API key.")
        raise UnauthorizedError("Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'.")
    if caller.kind not in KEY_KINDS:
        raise ForbiddenError(f"Endpoint '{endpoint.name}' takes an API key, not a {caller.kind}'s credentials.")
    if caller.workflows is not None and endpoint.name not in caller.workflows:
        raise ForbiddenError(f"This API key may not call endpoint '{endpoint.name}': it is limited to other "
                             "workflows.")
    if endpoint.disable_global_key and caller.workflows is None:
        raise ForbiddenError(
            f"Endpoint '{endpoint.name}' takes only API keys made for it (disable_global_key); this key is not "
            "limited to workflows."
        )
    return caller


def sees_repeated_outcome(endpoint: Endpoint) -> bool:
    """Whether a repeated delivery (same Idempotency-Key or delivery id) is answered with the first run's outcome.

    Not on a public endpoint: anyone may send any key there, and a guessed key would hand them another sender's
    result; they learn the execution's id and status only. A key or a signature proves the sender."""
    return endpoint_credential(endpoint) != "public"


RateLimit = tuple[Literal["key", "public"], str]


def request_rate_limit(caller: Caller) -> RateLimit | None:
    """The limit every request of this caller counts against, whatever the route: an API key's own (setting
    CONDUIT_RATE_LIMIT_PER_MINUTE). Users with tokens and the bootstrap admin key are people and the operator, not
    services that could flood; None for them."""
    if caller.kind == "api_key" and caller.key_id:
        return "key", f"key:{caller.key_id}"
    return None


def rate_limit_name(caller: Caller, endpoint: Endpoint, address: str) -> RateLimit | None:
    """Which limit an endpoint request counts against besides `request_rate_limit`: a signed endpoint's own (its
    sender is one service, known by the signature), the client address's for public endpoints, and the admin key's
    on API-key endpoints. None for an API key: it was counted once already, when it was authenticated."""
    credential = endpoint_credential(endpoint)
    if credential == "signature":
        return "key", f"endpoint:{endpoint.name}"
    if credential == "public":
        return "public", f"address:{address}"
    if request_rate_limit(caller) is not None:
        return None
    return "key", f"key:{caller.key_id or caller.user_id}"


def check_config_admin(caller: Caller, scope: str) -> None:
    """Config values and secrets of `scope` are managed by admins: platform admins in every scope, an organization's
    admins (role OrgAdmin) in their own organization only — never GLOBAL, which every organization's workflows read.
    Everyone else, users of the organization included, may not even read them: secrets' names and the other values
    (endpoints, tenants) are an admin's business, and workflows read them through the context."""
    if caller.is_platform_admin:
        return
    if ORG_ADMIN in caller.roles and caller.organization_id is not None and scope == caller.organization_id:
        return
    raise ForbiddenError("Only admins may manage config: platform admins in any scope, organization admins in "
                         "their own organization's.")


def config_scope(caller: Caller) -> str:
    """The scope `GET/PUT/DELETE /api/config/{key}` act in: the caller's (X-Organization-Id for a platform admin;
    GLOBAL without one)."""
    return caller.scope


def config_list_scopes(caller: Caller) -> tuple[str, ...]:
    """What `GET /api/config` lists: the caller's scope, and for a platform admin acting in an organization the
    global values too (what that organization's workflows fall back to). An organization's admins do not see the
    global values: they belong to the platform."""
    scope = config_scope(caller)
    check_config_admin(caller, scope)
    if caller.is_platform_admin and scope != GLOBAL_SCOPE:
        return (scope, GLOBAL_SCOPE)
    return (scope,)


# DAGs created through the API -----------------------------------------------------------------------------------


def check_dag_admin(caller: Caller, action: str) -> None:
    """Creating, changing, deleting and running unregistered DAGs is for admins, as for forms: platform admins in
    the scope they act in (GLOBAL without X-Organization-Id: the DAGs every organization sees), an organization's
    admins in their organization. A DAG runs only registered functions, sandboxed templates and HTTP calls, so an
    organization's admin may author its own; inline Python (scripts) stays with platform admins."""
    require_admin(caller, action)


def dag_owner_scope(caller: Caller) -> str:
    """The scope a stored DAG belongs to: the one its admin acts in."""
    return caller.scope


def dag_lookup_scopes(caller: Caller) -> tuple[str, ...]:
    """Where the DAGs a caller reads and runs live, nearest first: its organization's, then the global ones (an
    organization's DAG of the same name shadows a global one). Another organization's are never looked at."""
    return form_lookup_scopes(caller)


def sees_dag(caller: Caller, name: str) -> bool:
    """Whether a DAG exists for this caller (if not it is answered 404): whoever may run it may read and list it."""
    return may_list_function(caller, name)
