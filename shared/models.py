"""The data that crosses Conduit's seams: statuses, callers, log lines, requests, results and stored records."""

from __future__ import annotations

import hashlib
import random
import secrets
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

GLOBAL_SCOPE = "GLOBAL"
# The platform roles a caller holds (in `Caller.roles`, beside any other roles of its token, which forms may use).
PLATFORM_ADMIN = "PlatformAdmin"  # every scope; X-Organization-Id picks one
ORG_ADMIN = "OrgAdmin"  # forms, keys, config and every execution of its organization
ORG_USER = "OrgUser"  # runs its organization's and the global workflows and forms; sees its own executions
PLATFORM_ROLES = (PLATFORM_ADMIN, ORG_ADMIN, ORG_USER)
CallerKind = Literal["admin_key", "api_key", "user", "anonymous", "system"]
FunctionRole = Literal["workflow", "data_provider"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# How a signed webhook endpoint's sender signs its requests (`@workflow(webhook_signature=...)`,
# shared.identity.signatures verifies each).
WEBHOOK_SIGNATURE_SCHEMES = ("github", "stripe", "slack", "conduit")


class ExecutionStatus(StrEnum):
    """Lifecycle: Pending -> Running -> terminal, or Pending/Running -> Cancelling -> Cancelled. A durable execution
    may pause: Running -> Waiting (for an event, a delay or a retry's backoff; no worker holds it) -> Running again
    when it wakes (through the queue, on any host), or Waiting -> Cancelled."""

    PENDING = "Pending"
    RUNNING = "Running"
    WAITING = "Waiting"
    CANCELLING = "Cancelling"
    SUCCESS = "Success"
    FAILED = "Failed"
    TIMEOUT = "Timeout"
    CANCELLED = "Cancelled"
    COMPLETED_WITH_ERRORS = "CompletedWithErrors"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        ExecutionStatus.SUCCESS,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMEOUT,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.COMPLETED_WITH_ERRORS,
    }
)


@dataclass(frozen=True)
class Caller:
    """Who asked for an execution. Every HTTP request resolves to one (see `shared.identity.authenticator`).

    `scope` is where the caller acts: its organization, or the X-Organization-Id a platform admin picked (GLOBAL
    without one). `organization_id` is its home organization (None for platform admins and global keys);
    `workflows` limits an API key to some workflows (None: any); `organization_allowlist` is the allowlist of global
    workflows and providers its organization's users may run, as it stood when the caller was authenticated (None:
    all). Authorization reads these through `shared.identity.policy`, never directly."""

    user_id: str
    email: str | None = None
    name: str | None = None
    is_platform_admin: bool = False
    scope: str = GLOBAL_SCOPE
    roles: frozenset[str] = frozenset()  # PlatformAdmin / OrgAdmin / OrgUser, and any other roles of its token
    organization_id: str | None = None
    kind: CallerKind = "admin_key"
    key_id: str | None = None
    workflows: frozenset[str] | None = None
    organization_allowlist: frozenset[str] | None = None

    @property
    def owner_key(self) -> str:
        """Who owns what this caller starts: its kind and user id (`user:alice`, `api_key:key:3f…`, `admin_key:admin`).
        The kind is part of it because user ids come from different places — a token's `sub` may be any text,
        `admin` included — and an id alone would hand one caller another kind's executions."""
        return owner_key(self.kind, self.user_id)

    def to_dict(self) -> dict[str, Any]:
        """The caller as every record stores it, whatever ran the execution (sync, queued, scheduled)."""
        admin = self.is_platform_admin
        out: dict[str, Any] = {"user_id": self.user_id, "email": self.email, "name": self.name,
                               "is_platform_admin": admin}
        if self.kind != "admin_key":
            out["kind"] = self.kind
        if self.organization_id is not None:
            out["organization_id"] = self.organization_id
        if self.key_id is not None:
            out["key_id"] = self.key_id
        return out


def owner_key(kind: str, user_id: str) -> str:
    return f"{kind}:{user_id}"


def stored_owner_key(caller: Any) -> str | None:
    """`Caller.owner_key` of a caller as a record stores it (`Caller.to_dict`: no `kind` means the admin key)."""
    if not isinstance(caller, dict) or not isinstance(caller.get("user_id"), str) or not caller["user_id"]:
        return None
    return owner_key(str(caller.get("kind") or "admin_key"), caller["user_id"])


SYSTEM_CALLER = Caller(user_id="system", name="Conduit", is_platform_admin=True, roles=frozenset({PLATFORM_ADMIN}),
                       kind="system")


@dataclass(frozen=True, slots=True)
class LogLine:
    """One captured log record or printed line of an execution."""

    sequence: int
    timestamp: str
    level: str
    logger: str
    message: str
    step_name: str | None = None
    step_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sequence": self.sequence,
            "timestamp": self.timestamp,
            "level": self.level,
            "logger": self.logger,
            "message": self.message,
        }
        if self.step_name is not None:
            out["step_name"] = self.step_name
            out["step_type"] = self.step_type
        return out


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


_MAX_48 = (1 << 48) - 1
_MASK_62 = (1 << 62) - 1


def new_execution_id(now_ms: int | None = None) -> str:
    """A UUID-shaped id (RFC 9562 version 8) whose text sorts newest first.

    The first 48 bits are the inverted Unix time in milliseconds, so a plain ascending range read of RowKeys in a
    scope's partition returns the newest executions first without a secondary index.
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = random.getrandbits(74)  # the random module is reseeded in forked children
    value = ((_MAX_48 - ms) << 80) | (0x8 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & _MASK_62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def slot_execution_id(workflow_name: str, slot: datetime) -> str:
    """The execution id of a workflow's scheduled run for `slot`: the same for every instance that computes it.

    Shaped like `new_execution_id` (its time part is the slot, so slot runs sort newest first among the others),
    with a hash of (workflow, slot) in place of the random bits: two schedulers, a retried timer run or a restarted
    host that fire one slot write the same id, and the second insert collides instead of running the slot twice."""
    ms = int(slot.timestamp() * 1000)
    digest = hashlib.sha256(f"schedule|{workflow_name}|{ms}".encode("utf-8", "surrogatepass")).digest()
    derived = int.from_bytes(digest[:10]) >> 6  # 74 bits
    value = ((_MAX_48 - ms) << 80) | (0x8 << 76) | ((derived >> 62) << 64) | (0b10 << 62) | (derived & _MASK_62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def execution_id_time(execution_id: str) -> datetime | None:
    """The creation time encoded in an id made by `new_execution_id`, or None for other ids."""
    try:
        value = uuid.UUID(execution_id).int
    except ValueError:
        return None
    ms = _MAX_48 - (value >> 80)
    return datetime.fromtimestamp(ms / 1000, UTC)


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class ExecutionRequest:
    """Everything the engine needs to run one execution. Either `name` or `code` is set."""

    caller: Caller = SYSTEM_CALLER
    name: str | None = None
    code: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    execution_id: str = field(default_factory=new_execution_id)
    scope: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    trigger: dict[str, Any] = field(default_factory=lambda: {"kind": "api"})
    # What the workflow sees as `context.trigger` when it is more than `trigger` (a webhook's request: headers,
    # query, raw body); stored apart from the small `trigger`, so that a queued run sees it too.
    trigger_data: dict[str, Any] | None = None
    transient: bool = False
    no_cache: bool = False  # a data provider's run skips the cache read and refreshes the entry
    role: FunctionRole = "workflow"  # how the named function is used: one function may be both (see registry)
    # A stored (API-created) DAG's version pinned to this run, and the scope that owns it: a queued run, a retry or a
    # takeover runs exactly this version, even after the definition was changed or deleted (shared.dag.library).
    definition_version: int | None = None
    definition_scope: str | None = None
    # A rerun's original execution, and (from_failed) the one whose recorded node outputs it reuses.
    rerun_of: str | None = None
    resume_from: str | None = None
    # What to run instead of looking `name` up: the engine's resolver sets it for a stored DAG, and
    # `POST /api/dags/execute` for a definition that is registered nowhere. A `FunctionMetadata` (shared.functions
    # ranks above this module, hence Any).
    definition: Any = None

    @property
    def effective_scope(self) -> str:
        return self.scope or self.caller.scope

    @property
    def log_level(self) -> str | None:
        """The log level an admin asked for with this request, if any. It lives in the trigger, which is stored
        with the record, so that a queued execution runs with it too."""
        level = self.trigger.get("log_level") if isinstance(self.trigger, dict) else None
        return level if level in LOG_LEVELS else None


@dataclass
class ExecutionResult:
    """What one execution produced. The engine returns one for every outcome of user code."""

    execution_id: str
    status: ExecutionStatus
    result: Any = None
    duration_ms: int = 0
    logs: list[LogLine] = field(default_factory=list)
    variables: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    integration_calls: list[dict[str, Any]] = field(default_factory=list)
    error_message: str | None = None
    error_type: str | None = None
    cached: bool = False  # a data provider's options came from the cache, not from a run
    cache_expires_at: str | None = None
    stale: bool = False  # cached options past their expiry, served while one refresh runs in the background
    waiting: dict[str, Any] | None = None  # a Waiting execution's `waiting` (shared.engine.durable)
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass
class ExecutionRecord:
    """An execution as stored in Table storage (one row in its scope's partition)."""

    id: str
    scope: str
    workflow_name: str
    status: ExecutionStatus
    trigger: dict[str, Any] = field(default_factory=dict)
    caller: dict[str, Any] = field(default_factory=dict)
    input_data: Any = None
    output_data: Any = None
    variables: dict[str, Any] | None = None
    trigger_data: dict[str, Any] | None = None  # the request a webhook execution came with (never returned by the API)
    error_message: str | None = None
    error_type: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    log_count: int = 0
    attempt: int = 1
    timeout_seconds: int | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    deadline_at: datetime | None = None
    requeues: int = 0
    # When clean-up or recovery last sent its message again; for a run whose id carries its schedule slot instead of
    # its creation time (`slot_execution_id`), when it was submitted.
    requeued_at: datetime | None = None
    # The stored DAG version (and its owning scope) the execution runs; None for everything else.
    definition_version: int | None = None
    definition_scope: str | None = None
    # Durable executions (shared.engine.durable): what a Waiting execution waits for ({"reason": "event" | "delay" |
    # "retry", "node_id", "event", "until"}), how often it woke from waiting (`resumes`: a continuation of the same
    # attempt), how often a Python workflow's retry_policy ran it again, and the execution a rerun repeats (and, for
    # `from_failed`, whose recorded node outputs it reuses).
    waiting: dict[str, Any] | None = None
    resumes: int = 0
    retries: int = 0
    rerun_of: str | None = None
    resume_from: str | None = None
    # The code the run ran (shared.version.code_version: a deployment id or commit), set when a host starts it.
    code_version: str | None = None
    etag: str | None = None
    # The `CallerId` column, derived from `caller` when written: whose execution it is, also in light reads.
    caller_id: str | None = field(default=None, compare=False)

    @property
    def owner_id(self) -> str | None:
        """Whose execution it is (`Caller.owner_key` of whoever submitted it): the column when read, else derived from
        the stored caller."""
        return self.caller_id or stored_owner_key(self.caller)

    @property
    def created_at(self) -> datetime | None:
        return execution_id_time(self.id)

    def finished(self, status: ExecutionStatus, message: str, error_type: str, now: datetime) -> ExecutionRecord:
        """This record moved to a terminal `status` by Conduit itself (cancel, clean-up, poison), not by user code."""
        started = self.started_at or self.created_at or now
        return replace(
            self,
            status=status,
            error_message=message,
            error_type=error_type,
            completed_at=now,
            duration_ms=max(0, int((now - started).total_seconds() * 1000)),
            lease_owner=None,
            lease_expires_at=None,
            waiting=None,
        )

    def lease_alive(self, now: datetime) -> bool:
        return self.lease_expires_at is not None and self.lease_expires_at > now

    def to_list_item(self) -> dict[str, Any]:
        """The light shape of `GET /api/workflows/executions` items."""
        return {
            "id": self.id,
            "workflow_id": self.workflow_name,
            "status": self.status.value,
            "trigger": self.trigger.get("kind") if isinstance(self.trigger, dict) else None,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "duration_ms": self.duration_ms,
            "error_message": self.error_message,
            "code_version": self.code_version,
        }

    def to_api(self) -> dict[str, Any]:
        """The shape `GET /api/workflows/executions/{id}` answers with."""
        return {
            "id": self.id,
            "workflow_id": self.workflow_name,
            "status": self.status.value,
            "input_data": self.input_data,
            "output_data": self.output_data,
            "variables": self.variables,
            "error_message": self.error_message,
            "error_type": self.error_type,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "duration_ms": self.duration_ms,
            "trigger": self.trigger,
            "caller": self.caller,
            "scope": self.scope,
            "attempt": self.attempt,
            "code_version": self.code_version,
        } | self.definition_pin() | self.durable_fields()

    def durable_fields(self) -> dict[str, Any]:
        """What a durable execution adds to its API shape: only the fields that are set."""
        fields = {"waiting": self.waiting, "rerun_of": self.rerun_of, "resume_from": self.resume_from}
        out: dict[str, Any] = {key: value for key, value in fields.items() if value is not None}
        if self.retries:
            out["retries"] = self.retries
        if self.resumes:
            out["resumes"] = self.resumes
        return out

    def definition_pin(self) -> dict[str, Any]:
        """`definition_version` and `definition_scope` of a run of a stored DAG (nothing for other runs)."""
        if self.definition_version is None:
            return {}
        return {"definition_version": self.definition_version, "definition_scope": self.definition_scope}
