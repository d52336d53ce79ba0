"""Conduit's user-facing API: decorate functions, and reach the running execution's context."""

from shared.engine.context import ExecutionContext, get_context
from shared.errors import UserError
from shared.functions.decorators import data_provider, param, workflow

__all__ = ["ExecutionContext", "UserError", "data_provider", "get_context", "param", "workflow"]
