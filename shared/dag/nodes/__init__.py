"""Node types: importing this package registers every built-in handler (see base.py for adding one)."""

from shared.dag.nodes import durable, flow, gateways, loops, work  # noqa: F401 - registers the handlers
from shared.dag.nodes.base import (
    Branch,
    GraphParked,
    NodeConfig,
    NodeHandler,
    NodeParked,
    Parked,
    body_of,
    config_of,
    handler_for,
    handlers,
    register,
)

__all__ = [
    "Branch", "GraphParked", "NodeConfig", "NodeHandler", "NodeParked", "Parked", "body_of", "config_of",
    "handler_for", "handlers", "register",
]
