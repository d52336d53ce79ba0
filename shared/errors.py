"""Conduit's errors: one small tree, mapped to HTTP statuses in one table (`shared.api.http.STATUS_BY_ERROR`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class ConduitError(Exception):
    """Base of every error Conduit raises on purpose; `code` is the stable machine-readable name."""

    code = "conduit_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UserError(ConduitError):
    """Raised by workflow code: its message is written for the end user and shown as is."""

    code = "user_error"


class RegistrationError(ConduitError):
    """A decorator or the registry was given something it cannot register."""

    code = "registration_error"


class ContextError(ConduitError):
    """`get_context()` was called outside of an execution."""

    code = "no_execution_context"


class BadRequestError(ConduitError):
    """The request could not be read at all (malformed JSON, wrong shape)."""

    code = "bad_request"


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; `code` (optional) names the kind of problem for machines, e.g. a DAG
    definition's `cycle` or `unknown_action`, and appears in the JSON only when set."""

    field: str
    message: str
    code: str | None = None

    def to_dict(self) -> dict[str, str]:
        shown = {"field": self.field, "message": self.message}
        if self.code is not None:
            shown["code"] = self.code
        return shown


class InputValidationError(ConduitError):
    """The input failed validation; `errors` lists every field that was wrong and why."""

    code = "validation_error"

    def __init__(self, errors: list[FieldError], message: str | None = None) -> None:
        fields = ", ".join(e.field for e in errors)
        super().__init__(message or f"Invalid input: {fields}", details=[e.to_dict() for e in errors])
        self.errors = errors


class DagValidationError(InputValidationError):
    """A DAG definition that cannot run: `errors` lists every problem at once, each naming its node or edge in
    `field` and the kind of problem in `code` (HTTP 422, like any other invalid input)."""

    code = "dag_invalid"

    def __init__(self, errors: list[FieldError], name: str | None = None) -> None:
        subject = f"DAG '{name}'" if name else "The DAG definition"
        count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
        super().__init__(errors, f"{subject} is not valid ({count}): " + "; ".join(
            f"{e.field}: {e.message}" for e in errors[:5]) + ("; ..." if len(errors) > 5 else ""))


class UnauthorizedError(ConduitError):
    """No credentials, or credentials that match no caller."""

    code = "unauthorized"


class SignatureError(UnauthorizedError):
    """A signed webhook endpoint's request whose signature is missing, malformed, outside the replay window or
    wrong; `details["failed"]` says which, never what the signature should have been."""

    code = "invalid_signature"


class ForbiddenError(ConduitError):
    """The caller is known but may not do this."""

    code = "forbidden"


class NotFoundError(ConduitError):
    """The thing asked for does not exist, or is not visible to this caller."""

    code = "not_found"


class WorkflowNotFoundError(NotFoundError):
    """No registered workflow has this name."""

    code = "workflow_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"No workflow named '{name}' is registered. GET /api/workflows lists them.")
        self.name = name


class ScheduleNotFoundError(NotFoundError):
    """The workflow exists but has no schedule (GET /api/schedules lists the ones that do)."""

    code = "schedule_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"Workflow '{name}' has no schedule. GET /api/schedules lists the scheduled workflows.")
        self.name = name


class DataProviderNotFoundError(NotFoundError):
    """No registered data provider has this name."""

    code = "data_provider_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"No data provider named '{name}' is registered. GET /api/data-providers lists them.")
        self.name = name


class FormNotFoundError(NotFoundError):
    """No form with this id exists in the scopes the caller can see (or it is inactive and the caller no admin)."""

    code = "form_not_found"

    def __init__(self, form_id: str) -> None:
        super().__init__(f"No form with id '{form_id}' was found. GET /api/forms lists the forms you can use.")
        self.form_id = form_id


class DagNotFoundError(NotFoundError):
    """No DAG created through the API has this name in the scopes the caller can see."""

    code = "dag_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"No DAG named '{name}' was created through the API here. GET /api/dags lists the DAGs.")
        self.name = name


class FormFieldNotFoundError(NotFoundError):
    """The form has no such field, or the field takes no options from a data provider."""

    code = "form_field_not_found"


class ConfigNotFoundError(NotFoundError):
    """No config value with this key in the scope asked about (an organization's, or GLOBAL)."""

    code = "config_not_found"

    def __init__(self, key: str, scope: str) -> None:
        super().__init__(f"No config value '{key}' in scope {scope}. GET /api/config lists them.",
                         details={"key": key, "scope": scope})
        self.key = key
        self.scope = scope


class SecretNotFoundError(NotFoundError):
    """`context.get_secret(key)` found no secret with this key in the execution's organization nor globally."""

    code = "secret_not_found"


class SecretsNotConfiguredError(ConduitError):
    """Secrets cannot be stored or read here: the setting CONDUIT_SECRETS_KEY is missing or not a valid key list.
    The caller cannot fix it; whoever runs the deployment must (HTTP 503)."""

    code = "secrets_not_configured"


class SecretUnreadableError(ConduitError):
    """A stored secret that no key of CONDUIT_SECRETS_KEY decrypts: the key it was encrypted with was removed before
    `make rotate-secrets` re-encrypted it, or the row was altered."""

    code = "secret_unreadable"


class OrganizationNotFoundError(NotFoundError):
    """No organization with this id exists (or the caller may not see it)."""

    code = "organization_not_found"

    def __init__(self, organization_id: str) -> None:
        super().__init__(f"No organization with id '{organization_id}' was found.")
        self.organization_id = organization_id


class ApiKeyNotFoundError(NotFoundError):
    """No API key with this id exists among those the caller may manage."""

    code = "api_key_not_found"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"No API key with id '{key_id}' was found. GET /api/keys lists the keys you manage.")
        self.key_id = key_id


class ProviderFailedError(ConduitError):
    """A data provider ran but gave no usable options: it raised, or returned something that is not a list of
    `{"label", "value"}` items. `details` names the provider, the error type and, for admins, nothing more secret
    than what an execution record shows (HTTP 502: the provider, not the caller, is at fault)."""

    code = "provider_failed"


class ProviderRefusedError(ProviderFailedError):
    """The provider raised `UserError`: its own message, written for the user, about the inputs it was given
    (HTTP 422: the caller can change them)."""

    code = "provider_user_error"


class ProviderTimeoutError(ProviderFailedError):
    """The provider ran past its `timeout_seconds` (HTTP 504)."""

    code = "provider_timeout"


class ExecutionNotFoundError(NotFoundError):
    """No execution with this id exists in the caller's scope."""

    code = "execution_not_found"

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"No execution with id '{execution_id}' was found.")
        self.execution_id = execution_id


class RouteNotFoundError(NotFoundError):
    """No route of the API has this path."""

    code = "route_not_found"

    def __init__(self, method: str, url: str) -> None:
        path = _path_of(url)
        super().__init__(f"No API route matches {method} {path}.", details={"method": method, "path": path})


class MethodNotAllowedError(ConduitError):
    """The path exists but does not take this method; `allowed` lists the ones it takes (and the `Allow` header)."""

    code = "method_not_allowed"

    def __init__(self, method: str, url: str, allowed: list[str]) -> None:
        path = _path_of(url)
        super().__init__(
            f"{method} is not allowed on {path}; it takes {', '.join(allowed)}.",
            details={"method": method, "path": path, "allowed": allowed},
        )


def _path_of(url: str) -> str:
    return urlsplit(url).path or url


class ConflictError(ConduitError):
    """The request conflicts with the current state (e.g. the execution already finished)."""

    code = "conflict"


class PayloadTooLargeError(ConduitError):
    """A value is larger than Conduit stores; the limit is in the message."""

    code = "payload_too_large"


class UnavailableError(ConduitError):
    """Conduit cannot take this request right now; the caller should try again after `retry_after_seconds` (the
    HTTP answer is 503 with a Retry-After header)."""

    code = "unavailable"
    retry_after_seconds = 5


class WebhookSecretMissingError(ConduitError):
    """A signed endpoint whose secret is not configured: it refuses every request (500) rather than accept one
    unverified. The caller is not told which setting is missing; the log says."""

    code = "webhook_secret_missing"


class RateLimitedError(ConduitError):
    """The caller sent more requests than its limit allows; it may try again after `retry_after_seconds` (the HTTP
    answer is 429 with a Retry-After header)."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after_seconds = retry_after_seconds


class StorageError(ConduitError):
    """Table or Queue storage failed in a way the caller cannot fix."""

    code = "storage_error"


class StorageUnavailableError(StorageError, UnavailableError):
    """Storage did not answer (outage, timeout, 5xx): try again later; the message never carries internal detail."""

    code = "storage_unavailable"

    def __init__(self, message: str | None = None, *, retry_after_seconds: int = 5, details: Any = None) -> None:
        super().__init__(message or "Storage is unavailable; try again shortly.", details=details)
        self.retry_after_seconds = retry_after_seconds


class FinishPendingError(StorageUnavailableError):
    """The execution ran, but storage could not take its final state yet; this process keeps trying in the
    background, so the record turns terminal once storage is back (read it by `execution_id`)."""

    code = "finish_pending"

    def __init__(self, execution_id: str, status: str, *, retry_after_seconds: int = 5) -> None:
        super().__init__(
            f"Execution '{execution_id}' ran and ended {status}, but storage is unavailable, so its final state "
            f"is not stored yet; it will be once storage is back. Read GET /api/workflows/executions/{execution_id} "
            "later.",
            retry_after_seconds=retry_after_seconds,
            details={"execution_id": execution_id, "status": status, "retry_after_seconds": retry_after_seconds},
        )
        self.execution_id = execution_id
        self.status = status


class ExecutionAlreadyFinishedError(ConflictError):
    """A terminal state was already written for this execution; terminal states are never overwritten."""

    code = "execution_already_finished"

    def __init__(self, execution_id: str, status: str | None = None) -> None:
        suffix = f" with status {status}" if status else ""
        super().__init__(f"Execution '{execution_id}' already finished{suffix}.", details={"status": status})
        self.execution_id = execution_id
        self.status = status


class ResultNotSerializableError(ConduitError):
    """A workflow returned something that is not JSON; the message names the offending type."""

    code = "result_not_serializable"


class ScriptError(ConduitError):
    """An inline script could not be decoded or compiled; raised before it runs."""

    code = "script_error"


class StaleRecordError(ConflictError):
    """The record changed since it was read (its ETag no longer matches); read it again and decide again."""

    code = "stale_record"


class PreconditionFailedError(ConflictError):
    """An `If-Match` ETag no longer names the stored version: someone changed it since it was read (HTTP 412)."""

    code = "precondition_failed"


class PreconditionRequiredError(ConflictError):
    """An update that must name the version it replaces (`If-Match`) did not (HTTP 428)."""

    code = "precondition_required"


class BadMessageError(ConduitError):
    """A queue message that is not an execution reference; it can never succeed."""

    code = "bad_message"


class CapacityExceededError(ConduitError):
    """Every worker thread for sync user code is busy; a new sync execution fails at once instead of queueing."""

    code = "capacity_exceeded"


class HostRecyclingError(UnavailableError):
    """This host is being replaced (too much abandoned work) and takes no new work; another host or its
    replacement will."""

    code = "host_recycling"


class NotOfferedError(ConduitError):
    """Part of the seed system's API that Conduit does not offer (or not yet); the message says what to use."""

    code = "not_offered"


class CompatImportError(NotOfferedError, ImportError):
    """`import bifrost...` of something Conduit does not offer, or with the setting off: the file's load error.

    An ImportError too, so a module's own `try: from bifrost import files / except ImportError:` fallback works."""

    code = "compat_import"


class ExecutionFailedError(ConduitError, RuntimeError):
    """A workflow run and waited for by `execute_workflow` ended Failed, Timeout or Cancelled (a RuntimeError, as
    the execution-service contract says); `execution_id` names the run, whose logs tell more."""

    code = "execution_failed"

    def __init__(self, workflow_name: str, execution_id: str, status: str, error: str | None) -> None:
        super().__init__(
            f"Workflow '{workflow_name}' (execution {execution_id}) ended {status}: {error or 'no error message'}",
            details={"execution_id": execution_id, "status": status},
        )
        self.execution_id = execution_id
        self.status = status


class ServiceCallError(ConduitError, ValueError):
    """`execute_workflow` called in a way it cannot run: an unknown backend or arguments that contradict each other
    (a ValueError, as the execution-service contract says)."""

    code = "invalid_service_call"


class UnknownWorkflowError(WorkflowNotFoundError, ValueError):
    """`execute_workflow` named no registered workflow: a ValueError for the execution-service contract, and still
    the WorkflowNotFoundError that callers of earlier versions catch."""
