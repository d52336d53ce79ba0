"""Node types: importing this package registers every built-in handler (see base.py for adding one)."""

from shared.dag.nodes import flow, gateways, loops, work  # noqa: F401 - registers the handlers
from shared.dag.nodes.base import (
    Branch,
    NodeConfig,
    NodeHandler,
    body_of,
    config_of,
    handler_for,
    handlers,
    register,
)

__all__ = ["Branch", "NodeConfig", "NodeHandler", "body_of", "config_of", "handler_for", "handlers", "register"]
