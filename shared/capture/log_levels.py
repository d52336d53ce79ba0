"""Which log records an execution stores, and how an execution that asked for DEBUG gets its records made at all.

The rule (`stores`): an execution stores WARNING and above from any logger; INFO from any logger but the
third-party ones that log credentials at INFO (the Azure SDK logs request headers, httpx full URLs); below INFO only
when the execution opted in (`@workflow(log_level="DEBUG")`, or an admin's request) and only from the workflow's own
loggers — `context.logger` and `logging.getLogger(__name__)` in the workflow's module. Third-party DEBUG output
(tokens, signed headers, bodies) is never stored, whatever the levels are.

A `Logger` creates a record only when its effective level allows it, and the root logger stays at the host's level
(INFO on Azure). So while at least one DEBUG execution runs, its own loggers are lowered to DEBUG (counted per logger,
restored by the last one), and every other handler on the root logger — the Functions worker's, devhost's console —
gets a filter that drops the records that exist only because of that lowering.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable

from shared.models import LOG_LEVELS

DEFAULT_LEVEL = "INFO"
# Loggers whose records below WARNING are never stored: they log request URLs, headers or payloads.
THIRD_PARTY_LOGGERS = (
    "azure", "msal", "httpx", "httpcore", "hpack", "h2", "h11", "urllib3", "requests", "requests_oauthlib",
    "oauthlib", "aiohttp", "websockets", "botocore", "boto3", "s3transfer", "google", "openai", "paramiko",
    "asyncio", "charset_normalizer", "multipart",
)


def level_number(name: str) -> int:
    """`"DEBUG"` -> 10; a `ValueError` naming the allowed levels for anything else."""
    upper = name.upper() if isinstance(name, str) else name
    if upper not in LOG_LEVELS:
        raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {name!r}")
    return logging.getLevelNamesMapping()[upper]


@functools.lru_cache(maxsize=4096)
def is_third_party(logger_name: str) -> bool:
    return any(logger_name == name or logger_name.startswith(name + ".") for name in THIRD_PARTY_LOGGERS)


def is_under(logger_name: str, prefixes: tuple[str, ...]) -> bool:
    """`logger_name` is one of `prefixes` or a child of one (`flows` covers `flows.helpers`)."""
    return any(logger_name == prefix or logger_name.startswith(prefix + ".") for prefix in prefixes)


def stores(levelno: int, logger_name: str, level: int, own_loggers: tuple[str, ...]) -> bool:
    """Whether an execution capturing at `level`, whose own loggers are `own_loggers`, stores this record."""
    if levelno < level:
        return False
    if levelno >= logging.WARNING:
        return True
    if levelno >= logging.INFO:
        return not is_third_party(logger_name)
    return is_under(logger_name, own_loggers)


class _DebugOptIn(logging.Filter):
    """Lowers loggers to DEBUG for the executions that asked for it, and keeps those records off other handlers."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._users: dict[str, int] = {}
        self._saved: dict[str, tuple[int, int]] = {}  # name -> (its own level, its effective level) before

    def lower(self, names: Iterable[str], keep: logging.Handler) -> None:
        with self._lock:
            for name in names:
                self._users[name] = self._users.get(name, 0) + 1
                logger = logging.getLogger(name)
                if self._users[name] == 1 and logger.getEffectiveLevel() > logging.DEBUG:
                    self._saved[name] = (logger.level, logger.getEffectiveLevel())
                    logger.setLevel(logging.DEBUG)
            for handler in logging.getLogger().handlers:
                if handler is not keep and self not in handler.filters:
                    handler.addFilter(self)

    def restore(self, names: Iterable[str]) -> None:
        with self._lock:
            for name in names:
                self._users[name] -= 1
                if self._users[name] == 0:
                    del self._users[name]
                    saved = self._saved.pop(name, None)
                    if saved is not None:
                        logging.getLogger(name).setLevel(saved[0])

    def filter(self, record: logging.LogRecord) -> bool:
        """On other handlers: drop a record its logger would not have made without a DEBUG opt-in."""
        if not self._saved:
            return True
        name = record.name
        while True:
            saved = self._saved.get(name)
            if saved is not None:
                return record.levelno >= saved[1]
            name, dot, _ = name.rpartition(".")
            if not dot:
                return True


debug_opt_in = _DebugOptIn()
