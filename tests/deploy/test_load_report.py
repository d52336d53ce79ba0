"""scripts/load_report.py: the load report a user reads before deploying a workspace, as its own process.

Run on the e2e fixtures: the seed workspace (everything loads with CONDUIT_BIFROST_COMPAT=true; with the setting off
every file that imports bifrost says which setting turns it on) and the mistakes workspace (each mistake listed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from shared.functions.discovery import MISSING_WORKSPACE

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "load_report.py"
E2E = REPO_ROOT / "tests" / "e2e"
SEED = E2E / "seed_workspace"
MISTAKES = E2E / "mistakes_workspace"


def load_report(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """The script run from the repository root, with only the given app settings (none from this process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDUIT_", "AzureFunctions"))} | settings
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def as_json(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(run.stdout)
    return report


def test_the_seed_workspace_loads_completely_with_the_setting_on() -> None:
    # When the seed workspace is checked with CONDUIT_BIFROST_COMPAT=true
    run = load_report(str(SEED), CONDUIT_BIFROST_COMPAT="true")
    # Then it exits 0 and says what loaded: its 15 functions, no load errors, the two skipped folders with reasons
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "Load report for tests/e2e/seed_workspace (CONDUIT_BIFROST_COMPAT=true)"
    assert "15 from the workspace" in lines[2] and "Load errors: 0" in lines
    assert "  tests/e2e/seed_workspace/drafts: matched .conduitignore: drafts/" in lines
    assert "  tests/e2e/seed_workspace/tests: tests folder" in lines
    assert any(line.split()[:3] == ["workspace", "workflow", "onboard_new_hire"] for line in lines)
    assert run.stderr == ""


def test_with_the_setting_off_every_file_importing_bifrost_names_the_setting() -> None:
    # When the seed workspace is checked without CONDUIT_BIFROST_COMPAT
    run = load_report(str(SEED), "--json", CONDUIT_BIFROST_COMPAT="false")
    report = as_json(run)
    # Then it exits 1, and each file that imports bifrost fails with the message naming the setting
    assert run.returncode == 1
    importing = {p.relative_to(SEED).as_posix() for p in SEED.rglob("*.py")
                 if "from bifrost import" in p.read_text() and p.relative_to(SEED).parts[0] not in ("drafts", "tests")}
    errors = {Path(e["path"]).relative_to(SEED.relative_to(REPO_ROOT)).as_posix(): e["error"]
              for e in report["load_errors"]}
    assert set(errors) == importing
    assert all(e.startswith("`import bifrost` needs the setting CONDUIT_BIFROST_COMPAT=true") for e in errors.values())
    # And the files that do not import it (helpers, shared modules) still load; no function does
    workspace_files = [p for p in SEED.rglob("*.py") if p.relative_to(SEED).parts[0] not in ("drafts", "tests")]
    assert report["modules"]["workspace"] == len(workspace_files) - len(importing) > 0
    assert report["counts"]["workspace_functions"] == 0


def test_the_mistakes_workspace_lists_each_mistake_and_exits_1() -> None:
    # When the mistakes workspace is checked
    run = load_report(str(MISTAKES), "--json", CONDUIT_BIFROST_COMPAT="true")
    report = as_json(run)
    # Then it exits 1 with one load error per mistake file, and the good functions still loaded
    assert run.returncode == 1
    failed = {Path(e["path"]).name for e in report["load_errors"]}
    mistakes = {p.name for p in MISTAKES.glob("*.py")} | {"sync_users.py"}
    assert failed == mistakes
    workspace = {f["name"] for f in report["functions"] if f["source"] == "workspace"}
    assert {"still_loads", "available_licenses"} <= workspace
    assert report["skipped"] == [{"path": "tests/e2e/mistakes_workspace/_archive",
                                  "reason": "private folder (_ prefix)"}]


def test_a_workspace_that_does_not_exist(tmp_path: Path) -> None:
    # When the folder given on the command line does not exist, the script says so and exits 2
    given = load_report(str(tmp_path / "absent"))
    assert given.returncode == 2 and "is not a folder" in given.stderr
    # And when CONDUIT_WORKSPACE names a missing folder, the report (like the host's health) lists it as skipped:
    # not an error (a fresh checkout has no workspace/ yet), never silent
    configured = load_report("--json", CONDUIT_WORKSPACE=str(tmp_path / "typo"))
    assert configured.returncode == 0
    assert {"path": str(tmp_path / "typo"), "reason": MISSING_WORKSPACE} in as_json(configured)["skipped"]
