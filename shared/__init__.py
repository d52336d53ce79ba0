"""Conduit's user-facing API: decorate functions, and reach the running execution's context."""

from shared.context import ExecutionContext, get_context
from shared.decorators import data_provider, param, workflow
from shared.errors import UserError

__all__ = ["ExecutionContext", "UserError", "data_provider", "get_context", "param", "workflow"]
