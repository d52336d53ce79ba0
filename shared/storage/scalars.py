"""The small scalar fields of an execution record <-> entity properties, shared by create, finish, update and get.

Table storage has no null, and azure-data-tables leaves None-valued properties out of the request body, so a MERGE
of `{"LeaseOwner": None}` keeps the old owner (checked on Azurite). "No value" is therefore written as the empty
string `CLEARED`, which a MERGE puts in place of a value of any type (a DateTime included), and every reader maps
`CLEARED` and a missing property to None. One consequence: an empty error message or lease owner reads back as None.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import EdmType, EntityProperty

from shared.models import ExecutionStatus
from shared.storage.packing import MAX_ERROR_MESSAGE_UNITS, MAX_NAME_CHARS, truncate_text

Entity = dict[str, Any]

CLEARED = ""
_INT32_MAX = 2**31 - 1


def utc(moment: datetime | None) -> datetime | None:
    """Timezone-aware UTC; a naive datetime is taken to be UTC already."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def from_table_time(value: Any) -> datetime | None:
    """A plain aware datetime instead of the SDK's TablesEntityDatetime subclass; CLEARED is None."""
    if not isinstance(value, datetime):
        return None
    return datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)


def as_int(value: Any) -> int | None:
    """Int64 properties come back as EntityProperty(value, EdmType.INT64); CLEARED is None."""
    value = getattr(value, "value", value)
    return None if value is None or value == CLEARED else int(value)


def _int32(value: Any) -> int:
    """Plain ints are sent as Int32: refuse what the SDK would refuse with a TypeError, with the field's name."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _INT32_MAX:
        raise ValueError(f"expected an int within 0..{_INT32_MAX}, got {value!r}")
    return value


def _int64(value: Any) -> EntityProperty:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an int, got {value!r}")
    return EntityProperty(value, EdmType.INT64)


def _time(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"expected a datetime, got {value!r}")
    return utc(value)  # type: ignore[return-value]


def _text(limit: int) -> Callable[[Any], str]:
    def encode(value: Any) -> str:
        return truncate_text(str(value), limit) or CLEARED

    return encode


def _text_back(value: Any) -> str | None:
    return None if value is None or value == CLEARED else str(value)


_MAX_WAITING_CHARS = 2_000


def _json_small(value: Any) -> str:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {value!r}")
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    if len(text) > _MAX_WAITING_CHARS:
        raise ValueError(f"at most {_MAX_WAITING_CHARS} characters as JSON")
    return text


def _json_back(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Scalar:
    """One record attribute stored as one property; `encode` never sees None (that is CLEARED)."""

    attr: str
    prop: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


SCALARS: tuple[Scalar, ...] = (
    Scalar("status", "Status", lambda v: ExecutionStatus(v).value, lambda v: ExecutionStatus(v)),
    Scalar("started_at", "StartedAt", _time, from_table_time),
    Scalar("completed_at", "CompletedAt", _time, from_table_time),
    Scalar("duration_ms", "DurationMs", _int64, as_int),
    Scalar("attempt", "Attempt", _int32, as_int),
    Scalar("timeout_seconds", "TimeoutSeconds", _int32, as_int),
    Scalar("lease_owner", "LeaseOwner", _text(MAX_NAME_CHARS), _text_back),
    Scalar("lease_expires_at", "LeaseExpiresAt", _time, from_table_time),
    Scalar("deadline_at", "DeadlineAt", _time, from_table_time),
    Scalar("requeues", "Requeues", _int32, as_int),
    Scalar("requeued_at", "RequeuedAt", _time, from_table_time),
    Scalar("error_message", "ErrorMessage", _text(MAX_ERROR_MESSAGE_UNITS), _text_back),
    Scalar("error_type", "ErrorType", _text(MAX_NAME_CHARS), _text_back),
    Scalar("definition_version", "DefinitionVersion", _int32, as_int),
    Scalar("definition_scope", "DefinitionScope", _text(MAX_NAME_CHARS), _text_back),
    Scalar("waiting", "Waiting", _json_small, _json_back),
    Scalar("resumes", "Resumes", _int32, as_int),
    Scalar("retries", "Retries", _int32, as_int),
    Scalar("rerun_of", "RerunOf", _text(MAX_NAME_CHARS), _text_back),
    Scalar("resume_from", "ResumeFrom", _text(MAX_NAME_CHARS), _text_back),
    Scalar("code_version", "CodeVersion", _text(MAX_NAME_CHARS), _text_back),
)
BY_ATTR = {scalar.attr: scalar for scalar in SCALARS}
# What `ExecutionStore.update` may change: everything but the timeout and the pinned DAG version, which are fixed
# when the record is created.
FIXED_WHEN_SET = ("definition_version", "definition_scope", "rerun_of", "resume_from")
UPDATABLE = frozenset(BY_ATTR) - {"timeout_seconds", *FIXED_WHEN_SET}


def encode_scalars(values: Mapping[str, Any], *, omit_none: bool = False) -> Entity:
    """Properties for `values` (attribute -> value); None becomes CLEARED, or is left out with `omit_none`."""
    properties: Entity = {}
    for attr, value in values.items():
        scalar = BY_ATTR[attr]
        if value is None:
            if attr == "status":
                raise ValueError("status must not be None")
            if not omit_none:
                properties[scalar.prop] = CLEARED
            continue
        try:
            properties[scalar.prop] = scalar.encode(value)
        except (ValueError, TypeError) as error:
            raise ValueError(f"Invalid {attr}: {error}") from error
    return properties


def decode_scalars(entity: Mapping[str, Any], attrs: Iterable[str] = BY_ATTR) -> dict[str, Any]:
    """attribute -> value for `attrs`; missing and CLEARED properties are None."""
    decoded: dict[str, Any] = {}
    for attr in attrs:
        scalar = BY_ATTR[attr]
        value = entity.get(scalar.prop)
        decoded[attr] = None if value is None or value == CLEARED else scalar.decode(value)
    return decoded
