"""The versions a deployment reports (`GET /api/health`): Conduit's own, Python's and the azure-functions library's.

Conduit's version is kept here rather than read from pyproject.toml at run time: the deployment package does not
ship pyproject.toml. A test keeps the two equal.
"""

from __future__ import annotations

import functools
import platform

import azure.functions

__version__ = "0.1.0"


def versions() -> dict[str, str]:
    """Conduit's, Python's and azure-functions' versions, as health shows them."""
    return dict(_versions())


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    return (
        ("conduit", __version__),
        ("python", platform.python_version()),
        ("azure_functions", str(getattr(azure.functions, "__version__", "unknown"))),
    )
