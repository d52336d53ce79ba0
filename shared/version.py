"""The versions a deployment reports (`GET /api/health`): Conduit's own, Python's and the azure-functions library's.

Conduit's version is kept here rather than read from pyproject.toml at run time: the deployment package does not
ship pyproject.toml. A test keeps the two equal.
"""

from __future__ import annotations

import functools
import os
import platform

import azure.functions

__version__ = "0.1.0"


CODE_VERSION_SETTING = "CONDUIT_CODE_VERSION"


def code_version() -> str:
    """The version of the code a run runs, recorded on every execution: the setting CONDUIT_CODE_VERSION (a
    deployment id, a commit) when set, else Conduit's own version."""
    return os.environ.get(CODE_VERSION_SETTING, "").strip()[:128] or __version__


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
