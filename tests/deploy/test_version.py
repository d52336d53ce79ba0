"""The version health reports is the project's version (the deployment package does not ship pyproject.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from shared.version import __version__, versions

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_version_health_reports_is_the_project_version() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert __version__ == project == versions()["conduit"]
