"""Azure storage for Conduit: execution records, their log lines, steps and large values within the Table
service limits, the scopes registry, idempotency keys, the execution queues, and how storage trouble is recognised
and retried."""

from shared.storage.account import StorageAccount
from shared.storage.clients import RequestCounter, connection_string_from_env, open_tables
from shared.storage.executions import ExecutionStore
from shared.storage.keys import DETAILS_TABLE, EXECUTIONS_TABLE, SCOPES_TABLE
from shared.storage.packing import MAX_JSON_BYTES, MAX_LOG_MESSAGE_UNITS

__all__ = [
    "DETAILS_TABLE",
    "EXECUTIONS_TABLE",
    "MAX_JSON_BYTES",
    "MAX_LOG_MESSAGE_UNITS",
    "SCOPES_TABLE",
    "ExecutionStore",
    "RequestCounter",
    "StorageAccount",
    "connection_string_from_env",
    "open_tables",
]
