"""What every HTTP trigger shares: JSON in and out, one error shape, one table from error class to status.

    {"error": {"code": "...", "message": "...", "details": ...}}

Storage trouble, in whatever form it surfaces (see `shared.storage.outage`), is converted once, in `answer_error`:
the caller gets 503 `storage_unavailable` with `Retry-After` and an error id, never the connection error's text;
the log gets the real error, once, with the same id.
"""

import json
import logging
import uuid
from typing import Any, TypeVar
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared.errors import (
    BadRequestError,
    ConduitError,
    ConflictError,
    FieldError,
    ForbiddenError,
    InputValidationError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    PreconditionRequiredError,
    ProviderFailedError,
    ProviderRefusedError,
    ProviderTimeoutError,
    RateLimitedError,
    SecretsNotConfiguredError,
    StorageError,
    StorageUnavailableError,
    UnauthorizedError,
    UnavailableError,
)
from shared.serialization import NOT_FINITE, JsonTooDeepError, json_safe, loads_checked
from shared.storage.outage import is_storage_outage, retry_after_seconds

log = logging.getLogger("conduit.http")

# Most specific first: the first class an error is an instance of decides its status.
STATUS_BY_ERROR: tuple[tuple[type[ConduitError], int], ...] = (
    (BadRequestError, 400),
    (UnauthorizedError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (MethodNotAllowedError, 405),
    (PreconditionFailedError, 412),
    (PreconditionRequiredError, 428),
    (ConflictError, 409),
    (PayloadTooLargeError, 413),
    (RateLimitedError, 429),
    (InputValidationError, 422),
    (ProviderRefusedError, 422),
    (ProviderTimeoutError, 504),
    (ProviderFailedError, 502),
    (StorageError, 503),  # StorageUnavailableError; `endpoint` turns every other storage error into one
    (UnavailableError, 503),
    (SecretsNotConfiguredError, 503),  # the deployment lacks CONDUIT_SECRETS_KEY: for its operator to fix
    (ConduitError, 500),
)

_RESPONSE_DEPTH = 100  # responses hold stored values (at most 64 levels) in a few levels of envelope
M = TypeVar("M", bound=BaseModel)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """Always valid JSON: a NaN or Infinity (e.g. in a record stored before they were refused) becomes "<nan>"."""
    try:
        text = json.dumps(body, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(json_safe(body, max_depth=_RESPONSE_DEPTH), separators=(",", ":"), allow_nan=False)
    return func.HttpResponse(text, status_code=status, headers=headers, mimetype="application/json")


def status_for(error: ConduitError) -> int:
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(error, cls))


def error_response(error: ConduitError) -> func.HttpResponse:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    headers: dict[str, str] | None = None
    if isinstance(error, UnauthorizedError):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(error, (UnavailableError, RateLimitedError)):
        headers = {"Retry-After": str(error.retry_after_seconds)}
    elif isinstance(error, MethodNotAllowedError):
        headers = {"Allow": ", ".join(error.details["allowed"])}
    return json_response(body, status_for(error), headers)


def read_body(req: func.HttpRequest, model: type[M]) -> M:
    """Parse the JSON body into `model`: 400 when it is not JSON (or nested too deeply), 422 naming every field
    that is wrong (numbers that are not finite included), all before anything reaches pydantic or storage."""
    data = json_object(req.get_body() or b"{}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputValidationError([_field_error(e) for e in exc.errors()], "Invalid request body") from None


def json_value(raw: bytes) -> Any:
    """Any JSON body (an empty one is None): 400 when it is not JSON or nested too deeply, 422 for a number that is
    not finite (an event's payload, which need not be an object)."""
    if not raw.strip():
        return None
    data, check = _parsed(raw)
    _check_finite(check.non_finite)
    return data


def json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object body: 400 when it is not JSON (or nested too deeply) or not an object, 422 naming every number
    that is not finite."""
    data, check = _parsed(raw)
    if not isinstance(data, dict):
        raise BadRequestError("The request body must be a JSON object.")
    _check_finite(check.non_finite)
    return data


def _parsed(raw: bytes) -> Any:
    """`loads_checked(raw)`, its failures as 400s."""
    try:
        return loads_checked(raw)
    except JsonTooDeepError as exc:
        raise BadRequestError(f"The request body is not accepted: {exc}", details={"max_depth": exc.limit}) from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise BadRequestError(f"The request body is not valid JSON: {exc}") from None


def _check_finite(non_finite: Any) -> None:
    if non_finite:
        raise InputValidationError([FieldError(path, NOT_FINITE) for path in non_finite], "Invalid request body")


def read_query(req: func.HttpRequest, model: type[M]) -> M:
    """Parse the query string into `model` (blank values count as absent): one 422 naming every wrong parameter."""
    params = {name: value.strip() for name, value in req.params.items() if value and value.strip()}
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise InputValidationError([_query_error(model, e) for e in exc.errors()], "Invalid query parameters") from None


def _query_error(model: type[BaseModel], error: Any) -> FieldError:
    """Plain words for what a query parameter must be, with the bounds its model declares."""
    name = str(error["loc"][0]) if error["loc"] else "query"
    kind = error["type"]
    if kind == "int_parsing":
        return FieldError(name, "must be an integer")
    if kind == "bool_parsing":
        return FieldError(name, "must be true or false")
    if kind in ("greater_than_equal", "less_than_equal"):
        low, high = _bounds(model, name)
        return FieldError(name, f"must be between {low} and {high}")
    if kind in ("literal_error", "enum"):
        return FieldError(name, f"must be one of {error['ctx']['expected']}")
    return _field_error(error)


def _bounds(model: type[BaseModel], name: str) -> tuple[Any, Any]:
    low = high = None
    for rule in model.model_fields[name].metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    return low, high


def _field_error(error: Any) -> FieldError:
    field = ".".join(str(part) for part in error["loc"]) or "body"
    message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
    return FieldError(field, message)


def answer_error(req: func.HttpRequest, error: Exception) -> func.HttpResponse:
    """The response for an error a handler raised: storage trouble 503, Conduit's errors by the table, else 500."""
    if is_storage_outage(error) and not isinstance(error, StorageUnavailableError):  # those carry no internals
        return error_response(storage_unavailable(req, error))
    if isinstance(error, ConduitError):
        return error_response(error)
    error_id = uuid.uuid4().hex
    log.exception("unhandled error %s in %s %s", error_id, req.method, _path(req))
    body = {"code": "internal_error", "message": "Internal error.", "details": {"error_id": error_id}}
    return json_response({"error": body}, 500)


def storage_unavailable(req: func.HttpRequest, error: BaseException) -> StorageUnavailableError:
    """Log the real storage error once (one line, with an error id) and return what the caller may see."""
    error_id = uuid.uuid4().hex
    log.error("storage unavailable %s in %s %s: %s", error_id, req.method, _path(req), _one_line(error))
    retry_after = retry_after_seconds()
    return StorageUnavailableError(retry_after_seconds=retry_after,
                                   details={"error_id": error_id, "retry_after_seconds": retry_after})


def _one_line(error: BaseException) -> str:
    """`Type: message` (and its cause's type) on one line: SDK messages span several lines."""
    cause = f" (from {type(error.__cause__).__name__})" if error.__cause__ is not None else ""
    return f"{type(error).__name__}{cause}: {' '.join(str(error).split())}"


def _path(req: func.HttpRequest) -> str:
    return urlsplit(req.url).path
