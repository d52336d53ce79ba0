"""`@workflow(retry_policy=...)`: its shape is checked at import; the retries issue acts on it.

    retry_policy={"max_attempts": 3, "backoff_seconds": 10, "max_backoff_seconds": 300}

`max_attempts` counts runs, the first included (1..10); the wait before a retry starts at `backoff_seconds` and
doubles with each retry, up to `max_backoff_seconds`. Stored normalised (every key present) on the metadata.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MAX_ATTEMPTS = 10


class RetryPolicy(BaseModel):
    """How often and how patiently a failed workflow is run again."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)  # strict: True is no count, "3" no number

    max_attempts: int = Field(ge=1, le=MAX_ATTEMPTS)
    backoff_seconds: float = Field(default=10.0, ge=0, allow_inf_nan=False)
    max_backoff_seconds: float = Field(default=300.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ceiling_above_start(self) -> RetryPolicy:
        if self.max_backoff_seconds < self.backoff_seconds:
            raise ValueError("max_backoff_seconds must be at least backoff_seconds")
        return self


def check_retry_policy(policy: object) -> dict[str, Any] | None:
    """The policy with every key present; ValueError naming each wrong key otherwise."""
    if policy is None:
        return None
    if not isinstance(policy, dict):
        raise ValueError(f"retry_policy must be a dict like {{'max_attempts': 3}}, got {type(policy).__name__}")
    try:
        return RetryPolicy.model_validate(policy).model_dump()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'retry_policy'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"retry_policy is invalid: {problems}") from None

