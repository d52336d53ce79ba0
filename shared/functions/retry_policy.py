"""Retry policies: `@workflow(retry_policy=...)` and a DAG node's `retry` share this shape and these rules.

    retry_policy={"max_attempts": 4, "backoff": "exponential", "initial_delay_seconds": 2,
                  "max_delay_seconds": 60, "jitter": 0.2, "retry_on": ["TimeoutError", 503]}

`max_attempts` counts runs, the first included (1..10). The wait before retry n (n = 1 after the first failure) is
`initial_delay_seconds` for a `fixed` backoff and `initial_delay_seconds * 2**(n-1)` for an `exponential` one, capped
at `max_delay_seconds`; `jitter` (0..1) then moves it by up to that fraction either way, so that many runs failing
together do not retry together. `retry_on` names what is worth a retry: error type names (the class or any base
class; `TimeoutError` also names httpx's timeouts, `ConnectionError` its network errors, as an `http_request` node
raises them) and HTTP statuses (ints, matched against the status of an `http_request` node or an
`httpx.HTTPStatusError`); left out, every error is retried.
A cancel, a timeout of the whole execution and a bad input are never retried. `backoff_seconds` and
`max_backoff_seconds` are accepted as the older names of the two delays.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MAX_ATTEMPTS = 10
MAX_RETRY_ON = 50
# httpx's transport errors are not the built-in ones users name: its timeouts are no TimeoutError, its connection
# failures no ConnectionError. Naming the built-in covers them too.
_ALIASES = {"TimeoutException": "TimeoutError", "NetworkError": "ConnectionError"}


class RetryPolicy(BaseModel):
    """How often and how patiently a failed workflow (or DAG node) is run again."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)  # strict: True is no count, "3" no number

    max_attempts: int = Field(ge=1, le=MAX_ATTEMPTS)
    backoff: Literal["fixed", "exponential"] = "exponential"
    initial_delay_seconds: float = Field(default=10.0, ge=0, le=30 * 86_400, allow_inf_nan=False,
                                         validation_alias=AliasChoices("initial_delay_seconds", "backoff_seconds"))
    max_delay_seconds: float = Field(default=300.0, ge=0, le=30 * 86_400, allow_inf_nan=False,
                                     validation_alias=AliasChoices("max_delay_seconds", "max_backoff_seconds"))
    jitter: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)
    retry_on: list[str | int] | None = Field(default=None, max_length=MAX_RETRY_ON)

    @field_validator("retry_on")
    @classmethod
    def _names_and_statuses(cls, items: list[str | int] | None) -> list[str | int] | None:
        problems = [f"{item} is not an HTTP status (100..599)" for item in items or []
                    if isinstance(item, int) and not 100 <= item <= 599]
        problems += [f"{item!r} is not an error type name" for item in items or []
                     if isinstance(item, str) and not item.isidentifier()]
        if problems:
            raise ValueError("; ".join(problems))  # every wrong item at once
        return items

    @model_validator(mode="after")
    def _ceiling_above_start(self) -> RetryPolicy:
        if self.max_delay_seconds < self.initial_delay_seconds:
            raise ValueError("max_delay_seconds must be at least initial_delay_seconds")
        return self

    def delay_before(self, retry: int, rand: random.Random | None = None) -> float:
        """Seconds to wait before retry number `retry` (1 = the second attempt)."""
        base = self.initial_delay_seconds if self.backoff == "fixed" else self.initial_delay_seconds * 2 ** (retry - 1)
        delay = min(base, self.max_delay_seconds)
        if self.jitter:
            delay *= 1 + (rand or random).uniform(-self.jitter, self.jitter)
        return max(0.0, delay)

    def retries(self, error: BaseException) -> bool:
        """Whether `error` is one this policy retries (see the module docstring)."""
        if self.retry_on is None:
            return True
        names = {cls.__name__ for cls in type(error).__mro__}
        names |= {alias for name, alias in _ALIASES.items() if name in names}
        status = status_of(error)
        return any(item in names if isinstance(item, str) else item == status for item in self.retry_on)

    def retries_recorded(self, error_type: str | None, status: int | None = None) -> bool:
        """`retries` for an error known only by its type name (and HTTP status): a failure already recorded."""
        if self.retry_on is None:
            return True
        return any(item == error_type if isinstance(item, str) else item == status for item in self.retry_on)


def status_of(error: BaseException) -> int | None:
    """The HTTP status an error carries: `status_code`, or its `response.status_code` (httpx.HTTPStatusError)."""
    status = getattr(error, "status_code", None)
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def parse_retry_policy(policy: object, where: str = "retry_policy") -> RetryPolicy:
    """The policy; ValueError naming each wrong key otherwise."""
    if not isinstance(policy, dict):
        raise ValueError(f"{where} must be a dict like {{'max_attempts': 3}}, got {type(policy).__name__}")
    try:
        return RetryPolicy.model_validate(policy)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or where}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{where} is invalid: {problems}") from None


def check_retry_policy(policy: object) -> dict[str, Any] | None:
    """The policy with every key present; ValueError naming each wrong key otherwise."""
    if policy is None:
        return None
    return parse_retry_policy(policy).model_dump()
