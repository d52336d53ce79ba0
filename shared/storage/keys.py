"""Table names and row keys: every row Conduit reads is found by key or by one key range, never by a scan.

Executions table: PartitionKey = scope, RowKey = execution id (ids sort newest first, so an ascending range read of a
scope lists the newest executions first), and the scope's idempotency keys above them (`~idem|...`). Details table:
PartitionKey = execution id, one RowKey prefix per kind of row (`log|`, `step|`, `data|`), so each kind is one range
read inside one partition.

Log pages and steps are also keyed by the attempt that wrote them, so that a takeover (attempt 2) never overwrites
or merges with the lines and steps of the attempt before it: attempt 1 keeps the plain keys (`log|...`, `step|...`,
which is also how every row written before attempts were keyed reads), attempt N >= 2 prefixes them with
`a{N:03d}|` (`a002|log|...`). Reading one attempt stays one range read.
"""

from __future__ import annotations

import re

EXECUTIONS_TABLE = "ConduitExecutions"
DETAILS_TABLE = "ConduitExecutionDetails"
SCOPES_TABLE = "ConduitScopes"  # PartitionKey "scope", RowKey = a scope that has executions (see scopes.py)
# Rows of the executions table that are not executions start with `~`, above every execution id (lowercase hex and
# `-`): idempotency keys (see idempotency.py). Every range read of executions ends below EXECUTIONS_END.
EXECUTIONS_END = "~"
IDEMPOTENCY_PREFIX = "~idem|"

MAX_KEY_CHARS = 256
MAX_SEQUENCE = 10**10 - 1

LOG_PREFIX = "log|"  # log|{first:010d} per page of lines, log|{first:010d}|{part:02d} for the rest of a big page
STEP_PREFIX = "step|"  # step|{execution_order:06d} per step (see steps.py)
MAX_STEP_ORDER = 999_999
DATA_PREFIX = "data|"
MAX_ATTEMPT = 999

# Table storage forbids / \ # ? and the control characters U+0000-U+001F and U+007F-U+009F in keys.
_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")

# Filters for range reads; tokens are space separated so `parameters=` substitution works (azure-notes gotcha #5).
RANGE_FILTER = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"


def key_problem(value: object) -> str | None:
    """Why `value` cannot be a PartitionKey/RowKey, or None when it can."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_KEY_CHARS:
        return f"must be at most {MAX_KEY_CHARS} characters (got {len(value)})"
    if _FORBIDDEN.search(value):
        return "must not contain '/', '\\', '#', '?' or control characters"
    return None


def is_valid_key(value: object) -> bool:
    return key_problem(value) is None


def validate_scope(scope: str) -> str:
    """Return `scope` unchanged, or raise ValueError saying what is wrong with it."""
    problem = key_problem(scope)
    if problem:
        raise ValueError(f"Invalid scope {scope!r}: a scope {problem}.")
    return scope


def validate_execution_id(execution_id: str) -> str:
    """Return `execution_id` unchanged, or raise ValueError saying what is wrong with it."""
    problem = key_problem(execution_id)
    if problem:
        raise ValueError(f"Invalid execution id {execution_id!r}: an execution id {problem}.")
    return execution_id


def attempt_prefix(attempt: int) -> str:
    """'' for attempt 1 (and for the rows written before attempts were keyed), `a{attempt:03d}|` after it."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= MAX_ATTEMPT:
        raise ValueError(f"An attempt must be an int within 1..{MAX_ATTEMPT}, got {attempt!r}.")
    return "" if attempt == 1 else f"a{attempt:03d}|"


def log_prefix(attempt: int = 1) -> str:
    return attempt_prefix(attempt) + LOG_PREFIX


def step_prefix(attempt: int = 1) -> str:
    return attempt_prefix(attempt) + STEP_PREFIX


def log_row_key(sequence: int, part: int = 0, attempt: int = 1) -> str:
    """Zero-padded so that RowKey order is sequence order; a big page's later rows sort right after its head."""
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"Log sequence {sequence} is outside 0..{MAX_SEQUENCE}.")
    return f"{log_prefix(attempt)}{sequence:010d}" + (f"|{part:02d}" if part else "")


def is_log_row_key(row_key: str) -> bool:
    """A key made by `log_row_key`, of any attempt."""
    return row_key.startswith(LOG_PREFIX) or (row_key[:1] == "a" and row_key[5:9] == LOG_PREFIX)


def parse_log_row_key(row_key: str) -> tuple[int, int]:
    """(sequence, part) of a key made by `log_row_key`, of any attempt."""
    sequence, _, part = row_key.partition(LOG_PREFIX)[2].partition("|")
    return int(sequence), int(part or 0)


def step_row_key(execution_order: int, attempt: int = 1) -> str:
    """Zero-padded so that RowKey order is execution order."""
    if isinstance(execution_order, bool) or not isinstance(execution_order, int):
        raise ValueError(f"A step's execution_order must be an int, got {execution_order!r}.")
    if not 0 <= execution_order <= MAX_STEP_ORDER:
        raise ValueError(f"A step's execution_order must be within 0..{MAX_STEP_ORDER}, got {execution_order}.")
    return f"{step_prefix(attempt)}{execution_order:06d}"


def data_prefix(field: str) -> str:
    return f"{DATA_PREFIX}{field}|"


def data_row_key(field: str, chunk: int) -> str:
    return f"{data_prefix(field)}{chunk:04d}"


def prefix_range(prefix: str) -> dict[str, str]:
    """Bounds `lo <= RowKey < hi` covering exactly the keys that start with `prefix`."""
    return {"lo": prefix, "hi": prefix[:-1] + chr(ord(prefix[-1]) + 1)}
